"""A post-mortem as a markdown file, in the course's fixed format: `render_markdown(pm)` and
`parse_markdown(text)`, an exact round trip (``parse_markdown(render_markdown(pm)) == pm``).

The file starts with ``# Loss spike post-mortem — <date> — <run-id>`` and then has the seven
numbered sections (`SECTION_HEADINGS`); §1, §2, §3 and §6's expectations are tables. Any text
survives the trip: text that could be read otherwise (white space at its ends, a leading '"',
control characters, a line starting with '#') is written as a JSON string literal, and a '|' in a
table cell is escaped.
"""

from __future__ import annotations

import json
import re

from utils.postmortem.model import (
    SECTION_HEADINGS,
    SYMPTOM_FIELDS,
    Evidence,
    Expectation,
    Hypothesis,
    PostMortem,
    Symptoms,
    Verification,
)
from utils.postmortem.typed_numbers import format_int_list, parse_int_list
from utils.text import say

# The file's fixed words (title, table headers, §6's labels, the Source column) are the template's, like
# the section headings: they stay English in every language, so that a post-mortem written in Spanish
# parses exactly like one written in English. Only the parser's complaints are said in the learner's language.

TITLE = "# Loss spike post-mortem"  # i18n: not shown (the template's words)
SEP = " — "
_SOURCES = {
    (False, False): "typed",
    (False, True): "typed, confirmed",
    (True, False): "drafted",
    (True, True): "drafted, confirmed",
}
_SOURCE_FLAGS = {v: k for k, v in _SOURCES.items()}


def _has_control(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def _encode(text: str, *, multiline: bool = False, forbid: tuple[str, ...] = ()) -> str:
    """Text as written in the file: as is when safe, else as a JSON string literal.

    Unsafe: leading/trailing white space, a leading '"', control characters (newlines are
    allowed in multi-line prose), a line starting with '#' (a heading), or a `forbid` string.
    """
    unsafe = (
        text != text.strip()
        or text.startswith('"')
        or _has_control(text, "\n" if multiline else "")
        or any(line.startswith("#") for line in text.split("\n"))
        or any(f in text for f in forbid)
    )
    return json.dumps(text, ensure_ascii=False) if unsafe else text


def _decode(written: str) -> str:
    return json.loads(written) if written.startswith('"') else written


def _cell(text: str) -> str:
    return _encode(text).replace("|", "\\|")


def _uncell(cell: str) -> str:
    return _decode(cell.strip().replace("\\|", "|"))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header)] + [_row(r) for r in rows]


def _opt_int(value: int | None) -> str:
    return "" if value is None else str(value)


def render_markdown(pm: PostMortem) -> str:
    """The post-mortem as markdown, in the course's fixed format (`parse_markdown` reads it back)."""
    s = pm.symptoms
    lines = [TITLE + SEP + _encode(pm.date, forbid=("—",)) + SEP + _encode(pm.run_id), ""]

    lines += [SECTION_HEADINGS[1], ""]
    rows = []
    for name in SYMPTOM_FIELDS:
        value = json.dumps(s.unusual_tokens, ensure_ascii=False) if name == "unusual_tokens" else getattr(s, name)
        source = _SOURCES[(name in s.drafted, name in s.confirmed)]
        rows.append([name, value.replace("|", "\\|") if name == "unusual_tokens" else _cell(value), source])
    lines += _table(["Field", "Value", "Source"], rows) + [""]

    lines += [SECTION_HEADINGS[2], ""]
    rows = [[_opt_int(h.rank), _cell(h.text), format_int_list(h.panels)] for h in pm.hypotheses]
    lines += _table(["Rank", "Hypothesis", "Panels"], rows) + [""]

    lines += [SECTION_HEADINGS[3], ""]
    rows = [[_opt_int(e.panel), _cell(e.observation), _opt_int(e.favours), format_int_list(e.rules_out)]
            for e in pm.evidence]
    lines += _table(["Panel", "Observation", "Favours", "Rules out"], rows) + [""]  # i18n: not shown (the template's words)

    for n, text in ((4, pm.root_cause), (5, pm.remediation)):
        lines += [SECTION_HEADINGS[n], ""] + ([_encode(text, multiline=True), ""] if text else [])

    v = pm.verification
    lines += [SECTION_HEADINGS[6], ""]
    for label, value in (("Seed", v.seed), ("Tolerance ε", v.tolerance), ("Step T", v.step)):
        lines.append(f"- {label}: {_encode(value)}".rstrip(" "))
    lines.append("")
    rows = [[_cell(e.metric), _cell(e.comparator), _cell(e.value)] for e in v.expectations]
    lines += _table(["Metric", "Comparator", "Value"], rows) + [""]

    lines += [SECTION_HEADINGS[7], ""] + ([_encode(pm.lesson, multiline=True), ""] if pm.lesson else [])
    return "\n".join(lines)


def _split_row(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line)
    if len(parts) < 3 or parts[0].strip() or parts[-1].strip():
        raise ValueError(say(f"not a table row: {line!r}", f"no es una fila de tabla: {line!r}"))
    return parts[1:-1]


def _table_rows(body: list[str], width: int) -> list[list[str]]:
    table = [line for line in body if line.startswith("|")]
    if len(table) < 2:
        raise ValueError(say("a section's table is missing", "falta la tabla de una sección"))
    rows = [_split_row(line) for line in table[2:]]
    for r in rows:
        if len(r) != width:
            raise ValueError(say(f"expected {width} cells, found {len(r)}: {r!r}",
                                 f"se esperaban {width} celdas, hay {len(r)}: {r!r}"))
    return rows


def _int_or_none(cell: str) -> int | None:
    t = cell.strip()
    return None if not t else int(t)


def _prose(body: list[str]) -> str:
    return _decode("\n".join(body).strip("\n"))


def parse_markdown(text: str) -> PostMortem:
    """Read a post-mortem written by `render_markdown` (exactly: parse(render(pm)) == pm).

    Raises ValueError naming what is missing when `text` is not in the course's format.
    """
    lines = text.split("\n")
    head = lines[0].rstrip("\r")
    if not head.startswith(TITLE + SEP):
        raise ValueError(say(f"first line must start with {TITLE + SEP!r}",
                             f"la primera línea debe empezar por {TITLE + SEP!r}"))
    rest = head[len(TITLE + SEP):]
    if rest.startswith('"'):
        decoder = json.JSONDecoder()
        date, end = decoder.raw_decode(rest)
        rest = rest[end:]
    else:
        date, sep, after = rest.partition(SEP)
        rest = sep + after
    if not rest.startswith(SEP):
        raise ValueError(say("first line must read '# Loss spike post-mortem — <date> — <run-id>'",
                             "la primera línea debe decir '# Loss spike post-mortem — <fecha> — <run-id>'"))
    run_id = _decode(rest[len(SEP):])

    starts = {}
    for n, heading in SECTION_HEADINGS.items():
        try:
            starts[n] = lines.index(heading, starts.get(n - 1, 0) + 1)
        except ValueError:
            raise ValueError(say(f"not a post-mortem: heading {heading!r} is missing or out of order",
                                 f"no es un post-mortem: el encabezado {heading!r} falta o está fuera de orden")) from None
    bodies = {n: lines[starts[n] + 1: starts[n + 1] if n < 7 else len(lines)] for n in starts}

    values, drafted, confirmed, tokens = {}, set(), set(), []
    for name_cell, value_cell, source_cell in _table_rows(bodies[1], 3):
        name = name_cell.strip()
        if name not in SYMPTOM_FIELDS:
            raise ValueError(say(f"unknown symptom field {name!r}", f"campo de síntoma desconocido {name!r}"))
        if name == "unusual_tokens":
            tokens = json.loads(value_cell.strip().replace("\\|", "|"))
        else:
            values[name] = _uncell(value_cell)
        is_drafted, is_confirmed = _SOURCE_FLAGS[source_cell.strip()]
        if is_drafted:
            drafted.add(name)
        if is_confirmed:
            confirmed.add(name)
    symptoms = Symptoms(**values, unusual_tokens=tokens, drafted=drafted, confirmed=confirmed)

    hypotheses = [Hypothesis(_int_or_none(r), _uncell(t), parse_int_list(p))
                  for r, t, p in _table_rows(bodies[2], 3)]
    evidence = [Evidence(_int_or_none(p), _uncell(o), _int_or_none(f), parse_int_list(r))
                for p, o, f, r in _table_rows(bodies[3], 4)]

    fields = {}
    for label, key in (("Seed", "seed"), ("Tolerance ε", "tolerance"), ("Step T", "step")):
        prefix = f"- {label}:"
        found = [line for line in bodies[6] if line.startswith(prefix)]
        if len(found) != 1:
            raise ValueError(say(f"§6 needs one line starting {prefix!r}", f"§6 necesita una línea que empiece por {prefix!r}"))
        fields[key] = _decode(found[0][len(prefix):].removeprefix(" "))
    expectations = [Expectation(_uncell(m), _uncell(c), _uncell(v)) for m, c, v in _table_rows(bodies[6], 3)]

    return PostMortem(
        run_id=run_id,
        date=date,
        symptoms=symptoms,
        hypotheses=hypotheses,
        evidence=evidence,
        root_cause=_prose(bodies[4]),
        remediation=_prose(bodies[5]),
        verification=Verification(**fields, expectations=expectations),
        lesson=_prose(bodies[7]),
    )

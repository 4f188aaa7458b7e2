"""The interactive dashboard for a notebook: a step slider, "Jump to largest spike", a window
and an Output that shows the figure and the step's summary."""
from __future__ import annotations

from matplotlib.figure import Figure

from utils.diagnosis.dashboard.figure import clamp_window, draw, figure_png
from utils.diagnosis.dashboard.summary import format_summary, largest_spike, step_summary
from utils.spikelab.runlog import RunLog
from utils.text import say


class Dashboard:
    """The dashboard with controls: a step slider, "Jump to largest spike", a window (range
    slider, "Zoom around step" and "Whole run" buttons) and an Output with the figure and
    the step's summary. ``.widget`` is what a notebook displays; ``.show_step(s)`` works
    without a browser too (it keeps ``.figure`` and ``.summary``)."""

    def __init__(self, log: RunLog, panels: list[int] | None = None, zoom: int = 70):
        import ipywidgets as widgets          # only the widget needs it, not draw() or the summary
        self.log, self.panels, self.zoom = log, panels, zoom
        last = len(log) - 1
        spike = largest_spike(log)
        self.figure: Figure | None = None
        self.summary: dict | None = None
        self._hold = True                   # no redraws while the controls are being set
        self.step_slider = widgets.IntSlider(value=spike, min=0, max=last, description=say("step", "paso"),
                                             continuous_update=False, layout=widgets.Layout(width="420px"))
        self.window_slider = widgets.IntRangeSlider(value=(0, last), min=0, max=last, description=say("window", "ventana"),
                                                    continuous_update=False, layout=widgets.Layout(width="420px"))
        fit = widgets.Layout(width="auto")   # a Button's default width cuts long labels off
        self.spike_button = widgets.Button(description=say("Jump to largest spike", "Ir al pico mayor"), icon="bolt",
                                           layout=fit)
        self.zoom_button = widgets.Button(description=say(f"Zoom ±{zoom} around step", f"Zoom ±{zoom} alrededor del paso"),
                                          layout=fit)
        self.whole_button = widgets.Button(description=say("Whole run", "Toda la ejecución"), layout=fit)
        self.output = widgets.Output()
        self.spike_button.on_click(lambda _: self.jump_to_spike())
        self.zoom_button.on_click(lambda _: self.zoom_around_step())
        self.whole_button.on_click(lambda _: self.set_window(0, last))
        self.step_slider.observe(lambda _: self._redraw(), names="value")
        self.window_slider.observe(lambda _: self._redraw(), names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.step_slider, self.spike_button]),
            widgets.HBox([self.window_slider, self.zoom_button, self.whole_button]),
            self.output,
        ])
        self._hold = False
        self._redraw()

    def show_step(self, step: int) -> dict:
        """Move the cursor to ``step`` (redraws) and return that step's summary."""
        step = min(max(int(step), 0), len(self.log) - 1)
        if self.step_slider.value == step:
            self._redraw()
        else:
            self.step_slider.value = step      # the observer redraws
        return self.summary

    def jump_to_spike(self) -> dict:
        """Move the cursor to ``largest_spike(log)`` and zoom around it."""
        s = largest_spike(self.log)
        self._hold = True
        try:
            self.set_window(s - self.zoom, s + self.zoom)
        finally:
            self._hold = False
        return self.show_step(s)

    def zoom_around_step(self) -> None:
        """Show ``zoom`` steps either side of the cursor."""
        s = self.step_slider.value
        self.set_window(s - self.zoom, s + self.zoom)

    def set_window(self, lo: int, hi: int) -> None:
        """Show steps lo … hi (clamped to the run)."""
        self.window_slider.value = clamp_window(self.log, (lo, hi))

    def _redraw(self) -> None:
        if self._hold:
            return
        step = self.step_slider.value
        self.figure = draw(self.log, self.panels, step=step, window=tuple(self.window_slider.value))
        self.summary = step_summary(self.log, step)
        # The Output's contents are set directly (not captured with ``with output:``), so the
        # same code runs in a browser, in a headless test and in nbclient's notebook builder.
        self.output.outputs = (
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": figure_png(self.figure), "text/plain": repr(self.figure)}},
            {"output_type": "stream", "name": "stdout", "text": format_summary(self.summary) + "\n"},
        )

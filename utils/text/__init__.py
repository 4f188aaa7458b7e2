"""Words shown to a learner, in the learner's language (English or Español).

The lowest layer of the package: every other layer may import it, it imports none of them.
``say("English", "Español")`` is how every learner-facing message is written (README, "The
learner's language").
"""
from utils.text.language import LANGUAGES, Phrasebook, current, language_code, say, set_language, speaking

__all__ = ["LANGUAGES", "Phrasebook", "current", "language_code", "say", "set_language", "speaking"]

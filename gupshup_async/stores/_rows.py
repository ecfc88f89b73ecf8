"""The rows a journal's store is handed and gives back, the same on every engine."""

from __future__ import annotations

__all__ = ["ItemRow", "Mark"]

#: (key, recipient, fingerprint, state, message_id, error, attempts, updated, confirmed, tag);
#: state None: forget. ``attempts`` is the number of the item's latest attempt over all runs (its
#: tag's); ``confirmed``: sent on a status's word, its answer never came.
Mark = tuple[str, str, str, "str | None", "str | None", "str | None", int, float, int, "str | None"]

#: What a store holds of one item: (state, recipient, fingerprint, message_id, error, attempts,
#: updated).
ItemRow = tuple[str, str, str, "str | None", "str | None", int, float]

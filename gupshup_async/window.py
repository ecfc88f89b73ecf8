"""The 24-hour customer service window, and what to send when it is closed. Pure: no I/O, no
clock (``now`` is passed in).

WhatsApp delivers a free-form message (interactive ones included) only within 24 hours of the
user's last message to the business; outside it Gupshup still accepts the request, and the
message fails later with 131047. Only an approved template gets through. A `WindowPolicy`
decides, per recipient, before anything is sent: send anyway, refuse (`OutsideWindow`), or send
a template instead. A window store (gupshup_async.stores) says when each window closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from gupshup_async.errors import OutsideWindow
from gupshup_async.messages import Message, TemplateMessage

__all__ = ["WINDOW_SECONDS", "Window", "WindowPolicy"]

#: Meta, "Customer service windows": 24 hours from the user's last message.
WINDOW_SECONDS = 24 * 3600.0


@attrs.frozen
class Window:
    """What is known of one recipient's window: ``last_inbound``, when the user last wrote
    (Unix time), and ``closed_seen``, when a message to them last failed with 131047. Both None:
    nothing is known.
    """

    last_inbound: float | None = None
    closed_seen: float | None = None

    def closes_at(self) -> float | None:
        """When the window closes (or closed); None when the user was never seen writing."""
        if self.last_inbound is None:
            return None
        return self.last_inbound + WINDOW_SECONDS

    def is_open(self, now: float) -> bool | None:
        """True or False when known; None when nothing is known of this recipient.

        A known write decides: a message sent within 24 hours of it cannot fail with 131047,
        so a 131047 reported after the user wrote was a message sent before they did (its
        status came late), and says nothing of the window now. A 131047 matters for a user
        never seen writing: their window is closed, whatever an "unknown" policy assumes.
        """
        if self.last_inbound is not None:
            return now < self.last_inbound + WINDOW_SECONDS
        if self.closed_seen is not None:
            return False
        return None

    def wrote(self, at: float) -> Window:
        if self.last_inbound is not None and self.last_inbound >= at:
            return self
        return attrs.evolve(self, last_inbound=at)

    def failed_closed(self, at: float) -> Window:
        if self.closed_seen is not None and self.closed_seen >= at:
            return self
        return attrs.evolve(self, closed_seen=at)


#: What a "template instead" policy sends: one template for all, or one made per recipient
#: from the message it replaces.
TemplateChoice = TemplateMessage | Callable[[str, Message], TemplateMessage]


def _outside(instance: WindowPolicy, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("send", "refuse", "template"):
        raise ValueError(f"outside must be 'send', 'refuse' or 'template', got {value!r}")
    if value == "template" and instance.template is None:
        raise ValueError("a 'template' policy needs the template to send")


def _unknown(instance: WindowPolicy, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("open", "closed"):
        raise ValueError(f"unknown must be 'open' or 'closed', got {value!r}")


@attrs.frozen
class WindowPolicy:
    """What `send` and `send_many` do with a free-form message to a user whose window is not
    open. Templates always go as they are: they need no window.

    - ``WindowPolicy.send_anyway()``: no check (the default, and what a client without a
      window store does).
    - ``WindowPolicy.refuse()``: fail with `OutsideWindow` before sending.
    - ``WindowPolicy.template_instead(template)``: send ``template`` in its place (a
      `TemplateMessage`, or ``f(recipient, message) -> TemplateMessage``).

    ``unknown``: how to treat a recipient the store knows nothing of. ``"closed"`` (the
    default) is right for a store fed by a receiver from the start: an open window is one a
    user opened by writing, and the receiver saw that. ``"open"`` is for a store that started
    late, or a list known to have written lately.
    """

    outside: Literal["send", "refuse", "template"] = attrs.field(default="send")
    template: TemplateChoice | None = attrs.field(default=None, kw_only=True)
    unknown: Literal["open", "closed"] = attrs.field(
        default="closed", kw_only=True, validator=_unknown
    )

    def __attrs_post_init__(self) -> None:
        _outside(self, attrs.fields(WindowPolicy).outside, self.outside)

    @classmethod
    def send_anyway(cls) -> WindowPolicy:
        return cls("send")

    @classmethod
    def refuse(cls, *, unknown: Literal["open", "closed"] = "closed") -> WindowPolicy:
        return cls("refuse", unknown=unknown)

    @classmethod
    def template_instead(
        cls, template: TemplateChoice, *, unknown: Literal["open", "closed"] = "closed"
    ) -> WindowPolicy:
        return cls("template", template=template, unknown=unknown)

    @property
    def checks(self) -> bool:
        """Whether this policy needs to know the window at all."""
        return self.outside != "send"

    def decide(self, recipient: str, message: Message, window: Window, now: float) -> Message:
        """The message to send to ``recipient`` now: ``message``, or the template in its place.
        Raises `OutsideWindow` when the policy refuses.
        """
        if self.outside == "send" or isinstance(message, TemplateMessage):
            return message
        is_open = window.is_open(now)
        if is_open is None:
            is_open = self.unknown == "open"
        if is_open:
            return message
        if self.outside == "refuse":
            closed_at = window.closes_at()
            raise OutsideWindow(
                recipient, closed_at if closed_at is not None else window.closed_seen
            )
        template = self.template
        assert template is not None
        return template if isinstance(template, TemplateMessage) else template(recipient, message)

"""Interactive, template and free-form messages (text, media, location, contacts, reaction):
builders that refuse what WhatsApp would refuse.

Pure: no I/O.
"""

from gupshup_async.messages._buttons import ButtonMessage, CtaUrlMessage, ListMessage
from gupshup_async.messages._carousel import CarouselCard, CarouselMessage, ProductCard
from gupshup_async.messages._commerce import (
    CatalogMessage,
    OrderDetailsMessage,
    OrderStatusMessage,
    ProductListMessage,
    ProductMessage,
)
from gupshup_async.messages._contacts import ContactsMessage
from gupshup_async.messages._flows import FlowMessage
from gupshup_async.messages._free_forms import FREE_FORM_TYPES, FreeFormMessage, parse_free_form
from gupshup_async.messages._location import LocationMessage
from gupshup_async.messages._media import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    StickerMessage,
    VideoMessage,
)
from gupshup_async.messages._messages import MESSAGE_TYPES, InteractiveMessage, parse_interactive
from gupshup_async.messages._parts import (
    DocumentHeader,
    Header,
    ImageHeader,
    ProductItem,
    ProductSection,
    ReplyButton,
    Row,
    Section,
    TextHeader,
    VideoHeader,
)
from gupshup_async.messages._payload import (
    CALLBACK_DATA_MAX,
    NO_ENVELOPE,
    Envelope,
    Message,
    build_payload,
    encode_normalized,
    encode_payload,
    is_user_id,
    normalize_recipient,
    parse_message,
    user_id_refused,
)
from gupshup_async.messages._reaction import ReactionMessage
from gupshup_async.messages._requests import (
    AddressMessage,
    CallPermissionRequestMessage,
    LocationRequestMessage,
    RequestContactInfoMessage,
    VoiceCallMessage,
)
from gupshup_async.messages._template import TemplateCard, TemplateMessage, parse_template
from gupshup_async.messages._template_parts import (
    TemplateButton,
    TemplateCatalogButton,
    TemplateCopyCode,
    TemplateCurrency,
    TemplateDateTime,
    TemplateFlowButton,
    TemplateHeader,
    TemplateLocation,
    TemplateMultiProductButton,
    TemplateOrderDetailsButton,
    TemplateProduct,
    TemplateQuickReply,
    TemplateText,
    TemplateUrlButton,
)
from gupshup_async.messages._text import TextMessage

__all__ = [
    "CALLBACK_DATA_MAX",
    "FREE_FORM_TYPES",
    "MESSAGE_TYPES",
    "NO_ENVELOPE",
    "AddressMessage",
    "AudioMessage",
    "ButtonMessage",
    "CallPermissionRequestMessage",
    "CarouselCard",
    "CarouselMessage",
    "CatalogMessage",
    "ContactsMessage",
    "CtaUrlMessage",
    "DocumentHeader",
    "DocumentMessage",
    "Envelope",
    "FlowMessage",
    "FreeFormMessage",
    "Header",
    "ImageHeader",
    "ImageMessage",
    "InteractiveMessage",
    "ListMessage",
    "LocationMessage",
    "LocationRequestMessage",
    "Message",
    "OrderDetailsMessage",
    "OrderStatusMessage",
    "ProductCard",
    "ProductItem",
    "ProductListMessage",
    "ProductMessage",
    "ProductSection",
    "ReactionMessage",
    "ReplyButton",
    "RequestContactInfoMessage",
    "Row",
    "Section",
    "StickerMessage",
    "TemplateButton",
    "TemplateCard",
    "TemplateCatalogButton",
    "TemplateCopyCode",
    "TemplateCurrency",
    "TemplateDateTime",
    "TemplateFlowButton",
    "TemplateHeader",
    "TemplateLocation",
    "TemplateMessage",
    "TemplateMultiProductButton",
    "TemplateOrderDetailsButton",
    "TemplateProduct",
    "TemplateQuickReply",
    "TemplateText",
    "TemplateUrlButton",
    "TextHeader",
    "TextMessage",
    "VideoHeader",
    "VideoMessage",
    "VoiceCallMessage",
    "build_payload",
    "encode_normalized",
    "encode_payload",
    "is_user_id",
    "normalize_recipient",
    "parse_free_form",
    "parse_interactive",
    "parse_message",
    "parse_template",
    "user_id_refused",
]

"""One realistic, valid message of every type: for the demo, the docs and the tests."""

from __future__ import annotations

from gupshup_async import (
    AddressMessage,
    AudioMessage,
    ButtonMessage,
    CallPermissionRequestMessage,
    CarouselCard,
    CarouselMessage,
    CatalogMessage,
    ContactsMessage,
    CtaUrlMessage,
    DocumentHeader,
    DocumentMessage,
    FlowMessage,
    ImageHeader,
    ImageMessage,
    ListMessage,
    LocationMessage,
    LocationRequestMessage,
    Message,
    OrderDetailsMessage,
    OrderStatusMessage,
    ProductListMessage,
    ProductMessage,
    ProductSection,
    ReactionMessage,
    RequestContactInfoMessage,
    Row,
    Section,
    StickerMessage,
    TemplateMessage,
    TemplateQuickReply,
    TemplateUrlButton,
    TextMessage,
    VideoHeader,
    VideoMessage,
    VoiceCallMessage,
)

IMAGE = "https://cdn.example.com/menu.png"

EXAMPLES: dict[str, Message] = {
    "button": ButtonMessage(
        "Your table for two at 8pm is ready to book.",
        [("book", "Book it"), ("later", "Not now"), "Call me"],
        header=ImageHeader(IMAGE),
        footer="Reply within 24 hours",
    ),
    "list": ListMessage(
        "What would you like to order?",
        "See the menu",
        [
            Section("Pizza", [Row("margherita", "Margherita", "Tomato, mozzarella, basil")]),
            Section("Drinks", [("cola", "Cola"), ("water", "Water", "Still or sparkling")]),
        ],
        header="Luigi's",
        footer="Delivery in 30 minutes",
    ),
    "cta_url": CtaUrlMessage(
        "Track your parcel on our site.",
        "Track parcel",
        "https://track.example.com/p/123",
        header=DocumentHeader(id="1234567890", filename="invoice.pdf"),
    ),
    "flow": FlowMessage(
        "Book an appointment in three taps.",
        "Book now",
        flow_id="1234567890",
        flow_token="token-abc",
        mode="draft",
        flow_action="navigate",
        screen="WELCOME",
        data={"customer": "Asha"},
        header="Appointments",
        footer="Takes a minute",
    ),
    "product": ProductMessage("367025965434465", "sku-1", body="Back in stock!"),
    "product_list": ProductListMessage(
        "Our picks",
        "Hand-picked for you this week.",
        "146265584024623",
        [ProductSection("Fruit", ["apple", "pear"]), ProductSection("Bread", ["sourdough"])],
        footer="Prices include tax",
    ),
    "catalog_message": CatalogMessage(
        "Browse our whole catalog.", thumbnail_product_retailer_id="2lc20305pt"
    ),
    "location_request_message": LocationRequestMessage("Where should we deliver?"),
    "address_message": AddressMessage(
        "Where should we ship your order?",
        "IN",
        values={"name": "Asha", "phone_number": "+919876543210"},
    ),
    "voice_call": VoiceCallMessage(
        "Talk to our support team.", display_text="Call us", ttl_minutes=60, payload="ticket-42"
    ),
    "carousel": CarouselMessage(
        "Three plants for a bright room.",
        [
            CarouselCard(ImageHeader(IMAGE), "Fern", buttons=[("fern", "Add to cart")]),
            CarouselCard(VideoHeader(id="987"), "Palm", buttons=[("palm", "Add to cart")]),
        ],
    ),
    "call_permission_request": CallPermissionRequestMessage("May we call you about your delivery?"),
    "request_contact_info": RequestContactInfoMessage(
        "Share your number so we can text you the tracking link."
    ),
    "order_details": OrderDetailsMessage(
        "Your order from Green Leaf: 2 ferns.",
        "order-1042",
        {"value": 79800, "offset": 100},
        {
            "status": "pending",
            "items": [
                {
                    "retailer_id": "fern-01",
                    "name": "Boston fern",
                    "amount": {"value": 39900, "offset": 100},
                    "quantity": 2,
                }
            ],
            "subtotal": {"value": 79800, "offset": 100},
        },
        payment_type="upi",
        payment_configuration="green-leaf-upi",
        footer="Pay within 24 hours",
    ),
    "order_status": OrderStatusMessage(
        "Your ferns are on their way.", "order-1042", "shipped", description="Out for delivery"
    ),
}

#: One of the sandbox's approved templates: what reaches a user outside the 24-hour window.
TEMPLATE_EXAMPLE = TemplateMessage(
    "order_shipped",
    "en",
    header="1042",
    body=["Asha", "1042"],
    buttons=[TemplateQuickReply(0, "track-1042"), TemplateUrlButton(2, "1042")],
)

#: The conversation around them: text, media, a location, a contact card, a reaction.
FREE_FORM_EXAMPLES: dict[str, Message] = {
    "text": TextMessage("Your table is booked: https://example.com/b/1042", preview_url=True),
    "image": ImageMessage(IMAGE, caption="Tonight's menu"),
    "video": VideoMessage("https://cdn.example.com/tour.mp4", caption="A look inside"),
    "audio": AudioMessage("https://cdn.example.com/welcome.ogg"),
    "document": DocumentMessage(
        "https://cdn.example.com/menu.pdf", caption="The full menu", filename="menu.pdf"
    ),
    "sticker": StickerMessage("https://cdn.example.com/thanks.webp"),
    "reaction": ReactionMessage("wamid.HBgLOTE5ODc2NTQzMjEwFQIAEhggM0E0", "👍"),
    "location": LocationMessage(12.9716, 77.5946, name="Chez Nous", address="MG Road, Bengaluru"),
    "contacts": ContactsMessage.card("Chez Nous bookings", "+91 80 4567 8900"),
}

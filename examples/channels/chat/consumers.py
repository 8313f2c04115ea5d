"""One consumer instance per WebSocket; rooms are channel-layer groups."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.group = f"chat-{self.room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content):
        name = str(content.get("name", "")).strip()[:40] or "anonymous"
        text = str(content.get("text", "")).strip()[:500]
        if not text:
            await self.send_json({"error": "empty message"})
            return
        # Every consumer in the group gets a "chat.message" event, handled by
        # chat_message below (the type's dot becomes an underscore).
        await self.channel_layer.group_send(
            self.group, {"type": "chat.message", "name": name, "text": text})

    async def chat_message(self, event):
        await self.send_json({"room": self.room, "name": event["name"], "text": event["text"]})

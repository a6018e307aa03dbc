"""Helpers shared by test modules."""
import io
import secrets

ORIGIN = "https://shop.example"


def visitor_id() -> str:
    return secrets.token_hex(16)


def widget_post(client, channel, visitor, text="Hello", client_id=None, file=None,
                origin=ORIGIN, **extra):
    data = {"visitor": visitor, "client_id": client_id or secrets.token_hex(8), "text": text}
    data.update(extra)
    if file is not None:
        data["file"] = file
    return client.post(f"/widget/v1/{channel.public_id}/messages", data=data,
                       headers={"Origin": origin} if origin else {},
                       content_type="multipart/form-data")


def png_bytes(color=(200, 30, 30), size=(8, 8)) -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def pdf_bytes() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
            b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def jpeg_bytes(color=(30, 120, 200), size=(400, 300)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def contact_avatar(user, chat_id: int):
    """(contact id, avatar bytes) once the contact of this chat has an avatar, else None."""
    import re
    card = user.get(f"/chats/{chat_id}").text
    contact_id = re.search(r'/contacts/(\d+)"', card).group(1)
    page = user.get(f"/contacts/{contact_id}").text
    found = re.search(rf'src="(/contacts/{contact_id}/avatar\?v=[^"]+)"', page)
    if not found:
        return None
    resp = user.get(found.group(1).replace("&amp;", "&"))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert "private" in resp.headers["Cache-Control"]
    return contact_id, resp.content

"""The e-certificate (电子证书) of a finished training course, as PDF bytes (reportlab, no I/O).

The certificate carries ids only (teacher id, course id) and its number; anyone can check a number with
``GET /v1/learning/certificates/{id}`` once the learning consumer is wired (see README)."""

from __future__ import annotations

import io
from datetime import date

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas


def certificate_pdf(
    certificate_id: str,
    user_id: str,
    resource_id: str,
    hours: float,
    issued: date,
    verify_url: str = "https://basic.smartedu.cn/v1/learning/certificates/",
) -> bytes:
    buf = io.BytesIO()
    width, height = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setTitle(f"Certificate {certificate_id}")
    c.setFont("Helvetica-Bold", 28)
    c.drawCentredString(width / 2, height - 120, "Certificate of Completion")
    c.setFont("Helvetica", 14)
    lines = [
        "National Smart Education Platform for Primary and Secondary Schools",
        f"Teacher: {user_id}",
        f"Course: {resource_id}",
        f"Study hours credited: {hours:g}",
        f"Issued: {issued.isoformat()}",
        f"Certificate no.: {certificate_id}",
        f"Verify: {verify_url}{certificate_id}",
    ]
    for i, line in enumerate(lines):
        c.drawCentredString(width / 2, height - 190 - 30 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()

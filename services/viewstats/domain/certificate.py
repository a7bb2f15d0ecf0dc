"""The e-certificate (电子证书) of a finished training course, as PDF bytes (reportlab, no I/O).

The certificate carries ids only (teacher id, course id), the course title and its number; anyone can check
the number with ``GET /v1/certificates/{number}``. Chinese text uses reportlab's built-in CID font
``STSong-Light`` (Adobe's Asian font pack names it; PDF readers supply the glyphs), so no font file ships."""

from __future__ import annotations

import io
from datetime import date

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

CJK_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def certificate_pdf(
    certificate_id: str,
    user_id: str,
    resource_id: str,
    hours: float,
    issued: date,
    *,
    title: str | None = None,
    verify_url: str = "https://basic.smartedu.cn/v1/certificates/",
) -> bytes:
    buf = io.BytesIO()
    width, height = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setTitle(f"Certificate {certificate_id}")
    c.setFont(CJK_FONT, 30)
    c.drawCentredString(width / 2, height - 100, "结业证书")
    c.setFont("Helvetica-Bold", 22)
    c.drawCentredString(width / 2, height - 135, "Certificate of Completion")
    lines = [
        "国家中小学智慧教育平台 · National Smart Education Platform for Primary and Secondary Schools",
        f"教师 Teacher: {user_id}",
        f"课程 Course: {title or resource_id}" + (f" ({resource_id})" if title else ""),
        f"学时 Study hours credited: {hours:g}",
        f"颁发日期 Issued: {issued.isoformat()}",
        f"证书编号 Certificate no.: {certificate_id}",
        f"查验 Verify: {verify_url}{certificate_id}",
    ]
    c.setFont(CJK_FONT, 13)
    for i, line in enumerate(lines):
        c.drawCentredString(width / 2, height - 190 - 30 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()

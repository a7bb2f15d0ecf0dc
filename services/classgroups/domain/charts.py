"""The term summary as a chart (a bar per dimension), drawn with reportlab's graphics as SVG: parents and
students would rather look at five bars than read five numbers. Pure: numbers in, SVG text out."""

from __future__ import annotations

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from classgroups.domain.evaluation import DIMENSIONS, term_name


def term_chart(term: str, points: dict[str, int]) -> str:
    values = [points.get(d, 0) for d in DIMENSIONS]
    drawing = Drawing(360, 230)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 45, 35, 295, 160
    chart.data = [values]
    chart.categoryAxis.categoryNames = list(DIMENSIONS.values())
    chart.valueAxis.valueMin = min(0, *values)
    chart.valueAxis.valueMax = max(5, *values)
    chart.bars[0].fillColor = colors.HexColor("#c0392b")
    chart.barLabelFormat = "%d"
    chart.barLabels.nudge = 7
    drawing.add(chart)
    drawing.add(String(180, 212, f"综合素质评价 · {term_name(term)}", textAnchor="middle", fontSize=12))
    return renderSVG.drawToString(drawing)

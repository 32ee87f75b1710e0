#!/usr/bin/env python3
"""Writes samples/deals.xlsx from hand-written SpreadsheetML (standard library only).

Not run by tests or CI; re-run it after editing the rows below:
    python3 samples/make_deals_xlsx.py

Sheet `Deals` (first) holds real date cells in `Close date`, numeric amounts and a few
deliberately bad rows; sheet `Notes` holds free text.
"""
import datetime
import pathlib
import zipfile
from xml.sax.saxutils import escape

OUT = pathlib.Path(__file__).with_name("deals.xlsx")
EPOCH = datetime.datetime(1899, 12, 30)

HEADER = ["Deal ID", "Title", "Stage", "Amount", "Currency", "Close date",
          "Contact code", "Company code", "Owner e-mail", "Probability"]

# None = empty cell; NA = a formula whose cached value is #N/A; SKIP = an empty row (kept
# as formatted empty cells, as Excel does).
NA = object()
SKIP = object()
DEALS = [
    ["D-2001", "CRM rollout, phase 1", "NEW", 150000.5, "RUB", datetime.date(2026, 3, 14), "C-1001", "CO-025", "anna@x.ru", 20],
    ["D-2002", "Annual support", "PREPARATION", 48000, "RUB", datetime.date(2026, 4, 1), "C-1002", "CO-003", "boris.petrov@x.ru", 50],
    ["D-2003", "Data warehouse audit", "WON", 12500, "USD", datetime.datetime(2026, 2, 27, 9, 30), "C-1003", "CO-020", "anna@x.ru", 100],
    ["D-2004", "Timber supply 2026", "LOSE", 320000, "EUR", datetime.date(2026, 1, 15), "C-1009", "CO-005", "c.ivanova@x.ru", 0],
    ["D-2005", "Bank branch kiosks", "NEW", 2750000, "RUB", datetime.date(2026, 6, 30), "C-1020", NA, "boris.petrov@x.ru", 10],
    ["D-2006", "Website redesign", "ARCHIVED", 95000, "RUB", datetime.date(2026, 5, 20), "C-1024", "CO-014", "anna@x.ru", 30],
    ["D-2007", "Cloud migration", "PREPARATION", 18000, "EUR", datetime.date(2026, 7, 1), "C-1017", "CO-011", "c.ivanova@x.ru", 60],
    ["D-2008", "Security review", "NEW", 7300.75, "USD", datetime.date(2026, 3, 31), "C-1013", "CO-023", "igor.z@x.ru", 25],
    SKIP,
    ["D-2009", "Oil press maintenance", "WON", 410000, "RUB", datetime.date(2026, 2, 10), "C-1021", "CO-021", "boris.petrov@x.ru", 100],
    ["D-2010", None, "NEW", 56000, "RUB", datetime.date(2026, 8, 15), "C-1016", "CO-007", "anna@x.ru", 15],
    ["D-2011", "Insurance portal", "PREPARATION", 1200000, "RUB", datetime.date(2026, 9, 1), "C-1028", "CO-013", "igor.z@x.ru", 40],
    ["D-2012", "Shipyard ERP module", "NEW", 880000, "RUB", datetime.date(2026, 10, 12), "C-1023", "CO-018", "c.ivanova@x.ru", 20],
    ["D-2013", "Coal logistics tender", "LOSE", 5400000, "RUB", datetime.date(2026, 1, 30), "C-1020", "CO-024", "boris.petrov@x.ru", 0],
    ["D-2014", "Bakery POS terminals", "WON", 230000, "RUB", datetime.date(2026, 2, 2), "C-1018", "CO-015", "anna@x.ru", 100],
    ["D-2015", "Analytics dashboard", "PREPARATION", 9900, "USD", datetime.date(2026, 4, 18), "C-1022", "CO-020", "igor.z@x.ru", 70],
    ["D-2016", "Legal document flow", "NEW", 145000, "RUB", datetime.date(2026, 5, 5), "C-1019", "CO-025", "c.ivanova@x.ru", 35],
    ["D-2017", "Agro drones pilot", "NEW", 39000, "EUR", datetime.date(2026, 6, 12), "C-1015", "CO-008", "boris.petrov@x.ru", 10],
    ["D-2018", "Credit scoring API", "PREPARATION", 3100000, "RUB", datetime.date(2026, 11, 30), "C-1012", "CO-019", "anna@x.ru", 45],
    ["D-2019", "Marketplace onboarding", "WON", 62000, "RUB", datetime.date(2026, 3, 3), "C-1014", "CO-022", "igor.z@x.ru", 100],
    ["D-2020", "Hotline outsourcing", "NEW", 1250000, "RUB", datetime.date(2026, 12, 24), "C-1027", "CO-017", "c.ivanova@x.ru", 5],
]
NOTES = [
    ["Note"],
    ["Stages follow the sales pipeline: NEW, PREPARATION, WON, LOSE."],
    ["D-2005: company code lookup failed in the export (#N/A)."],
    ["D-2006 uses a stage that no longer exists."],
    ["Amounts are in the deal currency; close dates are planned dates."],
]

STYLE_DATE, STYLE_DATETIME = 1, 2


def col_letter(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


class Strings:
    def __init__(self):
        self.index = {}

    def get(self, text):
        return self.index.setdefault(text, len(self.index))

    def xml(self):
        items = "".join(f"<si><t xml:space=\"preserve\">{escape(t)}</t></si>" for t in self.index)
        n = len(self.index)
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{n}" uniqueCount="{n}">{items}</sst>')


def cell(ref, value, strings):
    if value is None:
        return ""
    if value is NA:
        return f'<c r="{ref}" t="e"><f>VLOOKUP(G{ref[1:]},Companies!A:B,2,FALSE)</f><v>#N/A</v></c>'
    if isinstance(value, datetime.datetime):
        serial = (value - EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{STYLE_DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, datetime.date):
        serial = (datetime.datetime.combine(value, datetime.time()) - EPOCH).days
        return f'<c r="{ref}" s="{STYLE_DATE}"><v>{serial}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="s"><v>{strings.get(value)}</v></c>'


def sheet_xml(rows, strings):
    out = []
    r = 0
    for row in rows:
        r += 1
        if row is SKIP:
            out.append(f'<row r="{r}"><c r="A{r}" s="{STYLE_DATE}"/><c r="F{r}" s="{STYLE_DATE}"/></row>')
            continue
        cells = "".join(cell(f"{col_letter(c)}{r}", v, strings) for c, v in enumerate(row))
        out.append(f'<row r="{r}">{cells}</row>')
    last = f"{col_letter(max(len(x) for x in rows if x is not SKIP) - 1)}{r}"
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="A1:{last}"/><sheetData>{"".join(out)}</sheetData></worksheet>')


STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
</styleSheet>"""

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
</Types>"""

ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""

WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Deals" sheetId="1" r:id="rId1"/><sheet name="Notes" sheetId="2" r:id="rId2"/></sheets>
</workbook>"""

WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>
</Relationships>"""


def main():
    strings = Strings()
    deals = sheet_xml([HEADER] + DEALS, strings)
    notes = sheet_xml(NOTES, strings)
    fixed = datetime.datetime(2026, 3, 1).timetuple()[:6]  # reproducible bytes
    with zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", ROOT_RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/styles.xml", STYLES),
            ("xl/sharedStrings.xml", strings.xml()),
            ("xl/worksheets/sheet1.xml", deals),
            ("xl/worksheets/sheet2.xml", notes),
        ]:
            z.writestr(zipfile.ZipInfo(name, fixed), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

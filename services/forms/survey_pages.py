"""The respondent's pages: the questionnaire a survey link opens in a browser, in Vietnamese, as
plain HTML with a plain form (no script, no account), so that it works in any browser an official
has. Rendered from the questionnaire's definition; every value is escaped."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any
from urllib.parse import parse_qs

from chassis.http import inline_style
from fastapi import Request

from .domain.definitions import FieldDef, FormDefinition

# The page's one inline stylesheet, allowed by its hash in the Content-Security-Policy (chassis/http.py).
STYLE = inline_style("""
body{font-family:system-ui,"Segoe UI",Roboto,Arial,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}
h1{font-size:1.4rem;color:#8b0000}.meta{color:#555}fieldset{border:1px solid #ccc;border-radius:6px;margin:1rem 0}
label{display:block;font-weight:600;margin-top:.8rem}input[type=number],input[type=text],textarea,select{width:100%;
padding:.4rem;font-size:1rem;box-sizing:border-box}.error{color:#b00020;font-weight:600}
.notice{background:#fff7d6;border:1px solid #e6c200;padding:.6rem;border-radius:6px}
.actions{margin:1.5rem 0;display:flex;gap:1rem}button{font-size:1rem;padding:.5rem 1.2rem}
""")


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="vi"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>")


def message_page(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p id=\"message\">{escape(message)}</p>")


def questionnaire_page(survey: dict[str, Any], definition: FormDefinition, token: str, answers: dict[str, Any],
                       *, errors: dict[str, str] | None = None, notice: str | None = None,
                       answered: bool = False) -> str:
    title = survey["title"]
    deadline = date.fromisoformat(survey["answer_deadline"])
    head = (f"<h1>{escape(title)}</h1><p class=\"meta\">{escape(definition.title)}<br>"
            f"Hạn trả lời: ngày {deadline:%d/%m/%Y}. Phiếu không ghi tên người trả lời; câu trả lời được lưu "
            f"riêng, không kèm thông tin cá nhân.</p>")
    if answered:
        return _page(title, head + '<p id="message" class="notice">Phiếu khảo sát này đã được trả lời. '
                                   "Trân trọng cảm ơn ông/bà.</p>")
    errors = errors or {}
    parts = [head]
    if notice:
        parts.append(f'<p id="notice" class="notice">{escape(notice)}</p>')
    parts.append(f'<form method="post" action="/s/{escape(token)}/form" accept-charset="utf-8" novalidate>')
    for section in definition.sections:
        parts.append(f"<fieldset><legend>{escape(section.title)}</legend>")
        parts += [_field(f, answers.get(f.code), errors.get(f.code)) for f in section.fields]
        parts.append("</fieldset>")
    parts.append('<div class="actions"><button type="submit" name="action" value="send" id="send">Gửi phiếu</button>'
                 '<button type="submit" name="action" value="draft" id="draft">Lưu tạm</button></div></form>')
    return _page(title, "".join(parts))


def _field(f: FieldDef, value: Any, error: str | None) -> str:
    name, shown = escape(f.code), "" if value is None else escape(str(value))
    required = " (bắt buộc)" if f.required else ""
    label = f'<label for="{name}">{escape(f.label)}{required}</label>'
    if f.type in ("integer", "number"):
        bounds = "".join(f' {k}="{v:g}"' for k, v in (("min", f.min), ("max", f.max)) if v is not None)
        step = ' step="1"' if f.type == "integer" else ' step="any"'
        control = f'<input type="number" id="{name}" name="{name}" value="{shown}"{bounds}{step}>'
    elif f.type == "boolean":
        control = (f'<select id="{name}" name="{name}"><option value=""></option>'
                   f'<option value="true"{" selected" if value is True else ""}>Có</option>'
                   f'<option value="false"{" selected" if value is False else ""}>Không</option></select>')
    elif f.type == "choice":
        options = "".join(f'<option value="{escape(c)}"{" selected" if value == c else ""}>{escape(c)}</option>'
                          for c in f.choices or [])
        control = f'<select id="{name}" name="{name}"><option value=""></option>{options}</select>'
    elif f.max_length > 300:
        control = f'<textarea id="{name}" name="{name}" rows="4" maxlength="{f.max_length}">{shown}</textarea>'
    else:
        control = f'<input type="text" id="{name}" name="{name}" value="{shown}" maxlength="{f.max_length}">'
    message = f'<div class="error" id="error-{name}">{escape(error)}</div>' if error else ""
    return label + control + message


def answers_from_form(definition: FormDefinition, body: bytes) -> tuple[str, dict[str, Any]]:
    """The page's form fields as typed answers (a value that does not parse is kept as typed, for
    the definition's check to name it); blanks are unanswered."""
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).items()}
    action = "draft" if form.pop("action", "send") == "draft" else "send"
    fields = definition.fields
    answers: dict[str, Any] = {}
    for code, raw in form.items():
        text = raw.strip()
        if code not in fields:
            answers[code] = text  # unknown: the check refuses it, by name
            continue
        if not text:
            continue
        answers[code] = _typed(fields[code], text)
    return action, answers


def _typed(f: FieldDef, text: str) -> Any:
    try:
        if f.type == "integer":
            return int(text)
        if f.type == "number":
            return float(text.replace(",", "."))
    except ValueError:
        return text
    if f.type == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text

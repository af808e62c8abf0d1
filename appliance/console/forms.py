# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's forms; object forms are made from the schema table, refusals land next to their field."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, ValidationError

from appliance.console import schema
from appliance.model.validate import Problem

_SPLIT = re.compile(r"[\s,]+")
_LINE = re.compile(r"^(\d{1,2}):(\S+)$")
_PORT_OBJ = re.compile(r"^device \S+ port (\d+)$")


class SignInForm(FlaskForm):
    username = StringField("User name", validators=[InputRequired(), Length(max=32)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=256)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[InputRequired(), Length(max=256)])
    new = PasswordField("New password", validators=[InputRequired(), Length(max=256)])
    confirm = PasswordField("New password again", validators=[InputRequired(), Length(max=256)])


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=63)])
    write = BooleanField("May change objects (scope write; read is always given)")


class EmptyForm(FlaskForm):
    """A form with only its CSRF token: delete, sign out, show credentials."""


def _storable(max_length: int):
    def check(form: FlaskForm, field: Field) -> None:
        if isinstance(field.data, str) and (why := schema.text_problem(field.data, max_length)):
            raise ValidationError(why)

    return check


def _wtf_field(f: schema.Field, editing: bool) -> Field:
    description = f.help
    if f.secret:
        description = "leave empty to keep it" if editing else (f.help or "optional")
        return PasswordField(
            f.label,
            validators=[_storable(f.max_length)],
            description=description,
            render_kw={"autocomplete": "new-password"},
        )
    if f.type == "bool":
        return BooleanField(f.label, description=description, default=f.default)
    if f.type == "int":
        return IntegerField(
            f.label,
            validators=[InputRequired(), NumberRange(f.minimum, f.maximum)],
            description=description,
            default=f.default,
        )
    if f.choices:
        # An optional choice ("" for no fallback) needs a visible label; the others are their own.
        choices = [SelectChoice("", "(none)") if c == "" else c for c in f.choices]
        return SelectField(f.label, choices=choices, description=description, default=f.default)
    if f.type in ("rows", "options"):
        # One entry a line: schedule ranges and holidays hold spaces, IVR options are DIGITS=KIND:VALUE.
        return TextAreaField(f.label, validators=[_storable(16384)], description=description, render_kw={"rows": 5})
    required = [InputRequired()] if f.required and f.type == "str" else []
    # A list field holds many entries in one line of text; each is checked again by the Store.
    limit = f.max_length if f.type == "str" else 4096
    return StringField(f.label, validators=[*required, _storable(limit)], description=description)


def object_form(kind: schema.Kind, editing: bool, data: dict[str, Any] | None = None) -> FlaskForm:
    """Return a form for creating (all fields) or editing (no key field) an object of kind."""
    attrs = {f.name: _wtf_field(f, editing) for f in kind.fields if not (editing and f.key) and not f.readonly}
    cls = type(f"{kind.title.replace(' ', '')}Form", (FlaskForm,), attrs)
    return cls(data=_form_data(kind, data) if data else None)


def _form_data(kind: schema.Kind, data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for f in kind.fields:
        value = data.get(f.name)
        if f.secret:
            continue
        if f.type == "strlist":
            value = ", ".join(value or ())
        elif f.type == "lines":
            value = ", ".join(f"{line['port']}:{line['extension']}" for line in value or ())
        elif f.type == "rows":
            value = "\n".join(value or ())
        elif f.type == "options":
            value = "\n".join(f"{o['digits']}={o['destination_kind']}:{o['destination']}" for o in value or ())
        out[f.name] = value
    return out


def values(kind: schema.Kind, form: FlaskForm, editing: bool) -> dict[str, Any] | None:
    """Return the typed values of a validated form, or None after putting parse errors on the fields."""
    out: dict[str, Any] = {}
    ok = True
    for f in kind.fields:
        if (editing and f.key) or f.readonly:
            continue
        field = form[f.name]
        data = field.data
        if f.secret and not data:
            continue  # empty secret: keep the current one, or let the Store generate one
        if f.type == "str":
            data = (data or "").strip() if not f.secret else data
        elif f.type == "strlist":
            data = [v for v in _SPLIT.split(data or "") if v]
            if len(data) > schema.MAX_LIST:
                _error(field, f"at most {schema.MAX_LIST} entries")
                ok = False
        elif f.type == "lines":
            data, why = _parse_lines(data or "")
            if why:
                _error(field, why)
                ok = False
        elif f.type == "rows":
            data = [line.strip() for line in (data or "").splitlines() if line.strip()]
            if len(data) > schema.MAX_LIST:
                _error(field, f"at most {schema.MAX_LIST} lines")
                ok = False
        elif f.type == "options":
            data, why = _parse_options(data or "")
            if why:
                _error(field, why)
                ok = False
        out[f.name] = data
    return out if ok else None


def _parse_lines(text: str) -> tuple[list[dict[str, Any]], str | None]:
    lines = []
    for word in (w for w in _SPLIT.split(text) if w):
        match = _LINE.match(word)
        if not match or not 1 <= int(match.group(1)) <= 64:
            return [], f"{word!r} must look like PORT:EXTENSION with a port from 1 to 64, e.g. 1:101"
        lines.append({"port": int(match.group(1)), "extension": match.group(2)})
    if len(lines) > schema.MAX_LIST:
        return [], f"at most {schema.MAX_LIST} lines"
    return lines, None


def _parse_options(text: str) -> tuple[list[dict[str, str]], str | None]:
    options = []
    for line in (w.strip() for w in text.splitlines()):
        if not line:
            continue
        digits, sep, target = line.partition("=")
        kind, sep2, value = target.partition(":")
        if not (sep and sep2 and digits.strip() and value.strip()):
            return [], f"{line!r} must look like DIGITS=KIND:VALUE, e.g. 1=extension:101"
        options.append({"digits": digits.strip(), "destination_kind": kind.strip(), "destination": value.strip()})
    if len(options) > schema.MAX_LIST:
        return [], f"at most {schema.MAX_LIST} options"
    return options, None


def attach_problems(kind: schema.Kind, key: str, form: FlaskForm | None, problems: list[Problem]) -> list[str]:
    """Put each problem next to its form field; return the ones that belong to no field."""
    general: list[str] = []
    own = kind.label(key)
    for p in problems:
        target, text = kind.field_map.get(p.field, p.field), p.message
        if (port := _PORT_OBJ.match(p.obj)) and p.obj.startswith(f"device {key} "):
            # A device's ports are edited in its one `lines` field.
            target, text = "lines", f"port {port.group(1)}: {p.field}: {p.message}"
        elif p.obj != own:
            # About another object (a route's pattern overlapping this one's): say which.
            text = f"{p.obj}: {p.field}: {p.message}"
        if form is not None and target in form._fields and target != "csrf_token":
            _error(form[target], text)
        else:
            general.append(str(p))
    return general


def _error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]

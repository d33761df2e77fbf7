"""Notes: the sample's small resource in the database (create, list, get), active when
DATABASE_URL names one (postgres/). Its table comes from the migrations in app/migrations."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request, url_for
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func, insert, select
from sqlalchemy.engine import RowMapping

import stack_database

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

bp = Blueprint("notes", __name__, url_prefix="/api/notes")

TEXT_MAX = 10_000
LIST_MAX = 100


def as_json(row: RowMapping) -> dict[str, object]:
    return {"id": row["id"], "text": row["text"], "created": row["created"].isoformat()}


@bp.post("")
def create() -> tuple[Response, int, dict[str, str]]:
    body = request.get_json(silent=True)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not 0 < len(text) <= TEXT_MAX:
        abort(400, description=f'send JSON {{"text": "..."}}, 1 to {TEXT_MAX} characters')
    with stack_database.engine().begin() as connection:
        row = connection.execute(insert(notes).values(text=text).returning(*notes.c)).mappings().one()
    return jsonify(as_json(row)), 201, {"Location": url_for("notes.get", note_id=row["id"])}


@bp.get("")
def index() -> Response:
    """The newest notes first, at most LIST_MAX."""
    with stack_database.engine().connect() as connection:
        rows = connection.execute(select(notes).order_by(notes.c.id.desc()).limit(LIST_MAX)).mappings().all()
    return jsonify([as_json(row) for row in rows])


@bp.get("/<int:note_id>")
def get(note_id: int) -> Response:
    with stack_database.engine().connect() as connection:
        row = connection.execute(select(notes).where(notes.c.id == note_id)).mappings().one_or_none()
    if row is None:
        abort(404, description=f"no note {note_id}")
    return jsonify(as_json(row))

"""Upstream's data API (``import linkahead as db``) over this project's connection.

Run by ``test_overlay.py`` inside the overlay environment (upstream 0.21.0, then this project over
it) against the embedded server with the XML stand-in. The connection is configured by the
``pylinkahead.ini`` in the working directory, as a user's would be. It performs every operation of
issue 11, point 4, checks what it can see itself, and prints one JSON object of observations for
the test to check against the server's side. Exits 1 with the failing step on stderr.
"""

# mypy: ignore-errors
# (This file runs inside the overlay environment, where ``linkahead`` has upstream's data layer.)

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

import linkahead as db
from linkahead.common import administration
from linkahead.utils.server_side_scripting import run_server_side_script

observed: dict[str, object] = {}
step = "start"


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def main(work: Path) -> None:
    global step

    step = "configuration"
    config = db.get_config()
    observed["config_sections"] = sorted(config.sections())
    observed["config_url"] = config["Connection"]["url"]  # how caoscrawler reads it
    observed["connection_module"] = type(db.get_connection()).__module__
    observed["password_method"] = db.get_connection().method.name

    step = "Record.insert"
    record_type = db.RecordType(name="Sample").insert()
    check(record_type.id is not None and record_type.id > 0, f"RecordType got no id: {record_type.id}")
    record = db.Record(name="sample-1").add_parent(record_type)
    record.description = "first"
    record.insert()
    check(record.id is not None and record.id > 0, f"Record got no id: {record.id}")
    observed["record_id"] = record.id

    step = "execute_query"
    found = db.execute_query("FIND Record sample-1")
    check([entity.id for entity in found] == [record.id], f"FIND found {[entity.id for entity in found]}")
    unique = db.execute_query("FIND Record sample-1", unique=True)
    check(unique.id == record.id, "unique query")
    observed["count"] = db.execute_query("COUNT Record")
    try:
        db.execute_query("FIND Record nothing-like-it", unique=True)
        raise AssertionError("an empty unique query raised nothing")
    except db.EmptyUniqueQueryError:
        observed["empty_unique"] = "EmptyUniqueQueryError"

    step = "Record.update"
    record.description = "second"
    record.update()

    step = "Record.retrieve"
    again = db.Record(id=record.id).retrieve()
    check(again.name == "sample-1" and again.description == "second", f"retrieved {again.name}/{again.description}")

    step = "Container.retrieve(flags=...)"
    container = db.Container().extend([db.Record(id=record.id), db.RecordType(id=record_type.id)])
    container.retrieve(flags={"cache": None, "H": "1"})
    observed["container_names"] = sorted(entity.name for entity in container)

    step = "missing entity"
    try:
        db.Record(id=999999).retrieve()
        raise AssertionError("a missing entity raised nothing")
    except db.TransactionError as error:
        check(error.has_error(db.EntityDoesNotExistError), f"not EntityDoesNotExistError: {error!r}")
        observed["missing"] = "EntityDoesNotExistError"

    step = "File upload"
    local = work / "upload.bin"
    content = bytes(range(256)) * 64 + "ünïcode".encode()
    local.write_bytes(content)
    file_entity = db.File(name="data-file", path="/data/sub/upload.bin", file=str(local))
    file_entity.insert()
    check(file_entity.id is not None and file_entity.id > 0, "File got no id")

    step = "File download"
    target = work / "downloaded.bin"
    file_entity.download(target=str(target))
    check(target.read_bytes() == content, "downloaded bytes differ from the uploaded ones")
    observed["downloaded_bytes"] = len(content)

    step = "Record.delete"
    record_id = record.id
    record.delete()
    try:
        db.Record(id=record_id).retrieve()
        raise AssertionError("the deleted record is still there")
    except db.TransactionError as error:
        check(error.has_error(db.EntityDoesNotExistError), f"not EntityDoesNotExistError: {error!r}")

    step = "administration users"
    administration._insert_user("new-user", password="Secret-Pa55word", email="x@example.com", status="ACTIVE")
    administration._update_user("new-user", realm="PAM", email="y@example.com")
    observed["user_xml"] = administration._retrieve_user("new-user", realm="PAM").decode()
    observed["roles"] = sorted(administration._set_roles("new-user", ["curator"], realm="PAM"))
    observed["roles_again"] = sorted(administration._get_roles("new-user", realm="PAM"))
    administration._delete_user("new-user")

    step = "server properties"
    administration.set_server_property("TEST_PROPERTY", "on")
    observed["properties"] = administration.get_server_properties()

    step = "server-side scripting"
    script_input = work / "input.txt"
    script_input.write_text("script input", encoding="utf-8")
    plain = run_server_side_script("management/test.py", "pos0", option="o1")
    with_file = run_server_side_script("test.py", files={"-Ofile": str(script_input)})
    observed["script_plain"] = [plain.code, plain.call, plain.stdout]
    observed["script_file"] = [with_file.code, with_file.stdout]

    step = "done"


if __name__ == "__main__":
    try:
        with tempfile.TemporaryDirectory() as scratch:
            main(Path(scratch))
    except BaseException:
        sys.stderr.write(f"step {step!r} failed:\n{traceback.format_exc()}")
        sys.exit(1)
    print(json.dumps(observed, default=str))

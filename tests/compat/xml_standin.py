"""A small LinkAhead-style XML stand-in on the embedded server, for upstream's data layer.

Not a LinkAhead server: just enough of one for ``linkahead`` 0.21's data API to run every operation
of issue 11, point 4, and for a test to check what arrived. Routes (paths below the root path):

- ``GET Entity?query=FIND|COUNT <role> [<name>]``: a ``Response`` with a ``Query`` element and the
  matching entities; ``GET Entity/<id>&<id>``: those entities (an ``Error code="101"`` element for
  an unknown id); ``POST Entity`` (XML or multipart with ``FileRepresentation`` and file parts):
  new ids for ids that are missing or negative, uploaded files stored under the File's path (so the
  embedded server's ``FileSystem/`` serves them); ``PUT Entity``: replace by id;
  ``DELETE Entity/<ids>``.
- ``User`` and ``UserRoles`` form calls as upstream's ``administration`` sends them;
  ``_server_properties`` (GET and POST); ``POST scripting`` (form or multipart): answers a
  ``script`` element whose ``stdout`` names the call and its arguments.
"""

from __future__ import annotations

import email.parser
import email.policy
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from linkahead.testing import LinkAheadTestServer, RequestInfo

Answer = tuple[int, Mapping[str, str], bytes]
ENTITY_ROLES = ("Record", "RecordType", "Property", "File")


@dataclass
class Part:
    name: str
    filename: str | None
    content: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a ``multipart/form-data`` body (stdlib's MIME parser does the work)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body)
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts.append(Part(str(name), part.get_filename(), payload if isinstance(payload, bytes) else b""))
    return parts


def _form(request: RequestInfo) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.body.decode(), keep_blank_values=True).items()}


def _xml(element: ET.Element) -> bytes:
    data: bytes = ET.tostring(element, encoding="utf-8")
    return data


def _ok(root: ET.Element) -> Answer:
    return 200, {}, _xml(root)


@dataclass
class XmlStandIn:
    """The stand-in's state; :meth:`install` puts its routes on ``server``."""

    server: LinkAheadTestServer
    entities: dict[int, ET.Element] = field(default_factory=dict)
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    user_paths: list[str] = field(default_factory=list)
    """Raw paths of the user calls, to check that ``User/PAM/x`` kept its slashes."""
    roles: dict[str, list[str]] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=lambda: {"SERVER_NAME": "xml-stand-in"})
    scripts: list[dict[str, str]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    entity_requests: list[tuple[str, str, str]] = field(default_factory=list)
    """``(method, raw path, raw query)`` of every Entity request."""
    next_id: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> XmlStandIn:
        routes = {
            ("GET", "Entity"): self._query,
            ("GET", "Entity/*"): self._retrieve,
            ("POST", "Entity"): self._insert,
            ("PUT", "Entity"): self._update,
            ("DELETE", "Entity/*"): self._delete,
            ("POST", "User"): self._insert_user,
            ("GET", "User/*"): self._retrieve_user,
            ("PUT", "User/*"): self._update_user,
            ("DELETE", "User/*"): self._delete_user,
            ("GET", "UserRoles/*"): self._get_roles,
            ("PUT", "UserRoles/*"): self._set_roles,
            ("GET", "_server_properties"): self._get_properties,
            ("POST", "_server_properties"): self._set_property,
            ("POST", "scripting"): self._script,
        }
        self.server.routes.update(routes)
        return self

    # -- entities ------------------------------------------------------------------------------

    def _response(self, *children: ET.Element) -> ET.Element:
        root = ET.Element("Response", srid="stand-in", timestamp="1700000000000")
        root.extend(children)
        return root

    def _copy(self, element: ET.Element) -> ET.Element:
        return ET.fromstring(ET.tostring(element))

    def _query(self, request: RequestInfo) -> Answer:
        self.entity_requests.append((request.method, request.path, request.query))
        params = {key: values[0] for key, values in parse_qs(request.query, keep_blank_values=True).items()}
        self.queries.append(params)
        text = params.get("query", "")
        words = text.split()
        verb = words[0].upper() if words else ""
        role = words[1] if len(words) > 1 else "Entity"
        name = words[2].strip("'\"") if len(words) > 2 and words[2].upper() != "WITH" else None
        with self.lock:
            found = [element for element in self.entities.values()
                     if (role.lower() == "entity" or element.tag.lower() == role.lower())
                     and (name is None or (element.get("name") or "").lower() == name.lower())]
        query = ET.Element("Query", string=text, results=str(len(found)), cached="false")
        if verb == "COUNT":
            return _ok(self._response(query))
        return _ok(self._response(query, *map(self._copy, found)))

    def _ids(self, request: RequestInfo) -> list[str]:
        return unquote(request.path.split("/", 1)[1]).split("&")

    def _retrieve(self, request: RequestInfo) -> Answer:
        self.entity_requests.append((request.method, request.path, request.query))
        answer = []
        with self.lock:
            for entity_id in self._ids(request):
                element = self.entities.get(int(entity_id)) if entity_id.lstrip("-").isdigit() else None
                if element is None:
                    missing = ET.Element("Entity", id=entity_id)
                    ET.SubElement(missing, "Error", code="101", description="Entity does not exist.")
                    answer.append(missing)
                else:
                    answer.append(self._copy(element))
        return _ok(self._response(*answer))

    def _request_elements(self, request: RequestInfo) -> tuple[list[ET.Element], dict[str, bytes]]:
        content_type = request.headers.get("Content-Type", "")
        files: dict[str, bytes] = {}
        if content_type.startswith("multipart/form-data"):
            xml = b""
            for part in parse_multipart(content_type, request.body):
                if part.name == "FileRepresentation":
                    xml = part.content
                elif part.filename is not None:
                    files[part.filename] = part.content
        else:
            xml = request.body
        return list(ET.fromstring(xml)), files

    def _insert(self, request: RequestInfo) -> Answer:
        self.entity_requests.append((request.method, request.path, request.query))
        elements, files = self._request_elements(request)
        answer = []
        with self.lock:
            for element in elements:
                entity_id = int(element.get("id") or -1)
                if entity_id < 0:
                    self.next_id += 1
                    element.set("id", str(self.next_id))
                upload = element.attrib.pop("upload", None)
                if upload is not None and upload in files:
                    path = (element.get("path") or "").lstrip("/")
                    self.server.files[path] = files[upload]
                    element.set("size", str(len(files[upload])))
                self.entities[int(element.get("id") or 0)] = element
                answer.append(self._copy(element))
        return _ok(self._response(*answer))

    def _update(self, request: RequestInfo) -> Answer:
        self.entity_requests.append((request.method, request.path, request.query))
        elements, _ = self._request_elements(request)
        answer = []
        with self.lock:
            for element in elements:
                entity_id = int(element.get("id") or 0)
                if entity_id not in self.entities:
                    ET.SubElement(element, "Error", code="101", description="Entity does not exist.")
                else:
                    self.entities[entity_id] = element
                answer.append(self._copy(element))
        return _ok(self._response(*answer))

    def _delete(self, request: RequestInfo) -> Answer:
        self.entity_requests.append((request.method, request.path, request.query))
        answer = []
        with self.lock:
            for entity_id in self._ids(request):
                element = self.entities.pop(int(entity_id), None)
                if element is None:
                    element = ET.Element("Entity", id=entity_id)
                    ET.SubElement(element, "Error", code="101", description="Entity does not exist.")
                else:
                    ET.SubElement(element, "Info", code="10", description="This entity has been deleted successfully.")
                answer.append(element)
        return _ok(self._response(*answer))

    # -- users, properties, scripts --------------------------------------------------------------

    def _user_element(self, name: str) -> ET.Element:
        user = self.users[name]
        return ET.Element("User", name=name, realm=user.get("realm", "PAM"), status=user.get("status", ""),
                          email=user.get("email", ""))

    def _user_name(self, request: RequestInfo) -> str:
        return unquote(request.path.rsplit("/", 1)[1])

    def _insert_user(self, request: RequestInfo) -> Answer:
        form = _form(request)
        self.user_paths.append(request.path)
        self.users[form["username"]] = {key: value for key, value in form.items() if key != "username"}
        return _ok(self._response(self._user_element(form["username"])))

    def _retrieve_user(self, request: RequestInfo) -> Answer:
        self.user_paths.append(request.path)
        name = self._user_name(request)
        if name not in self.users:
            return 404, {}, b"<Response><Error code='404' description='User does not exist.'/></Response>"
        return _ok(self._response(self._user_element(name)))

    def _update_user(self, request: RequestInfo) -> Answer:
        self.user_paths.append(request.path)
        name = self._user_name(request)
        self.users.setdefault(name, {}).update({key: value for key, value in _form(request).items() if value})
        return _ok(self._response(self._user_element(name)))

    def _delete_user(self, request: RequestInfo) -> Answer:
        self.user_paths.append(request.path)
        self.users.pop(self._user_name(request), None)
        return _ok(self._response())

    def _get_roles(self, request: RequestInfo) -> Answer:
        self.user_paths.append(request.path)
        roles = ET.Element("Roles")
        for role in self.roles.get(self._user_name(request), []):
            ET.SubElement(roles, "Role", name=role)
        return _ok(self._response(roles))

    def _set_roles(self, request: RequestInfo) -> Answer:
        self.user_paths.append(request.path)
        names = [role.get("name", "") for role in ET.fromstring(request.body).iter("Role")]
        self.roles[self._user_name(request)] = names
        return self._get_roles(request)

    def _get_properties(self, request: RequestInfo) -> Answer:
        root = ET.Element("Properties")
        for key, value in self.properties.items():
            ET.SubElement(root, key).text = value
        return _ok(root)

    def _set_property(self, request: RequestInfo) -> Answer:
        self.properties.update(_form(request))
        return _ok(self._response())

    def _script(self, request: RequestInfo) -> Answer:
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            fields = {}
            for part in parse_multipart(content_type, request.body):
                text = part.content.decode("utf-8", "replace")
                fields[part.name] = text if part.filename is None else f"{part.filename}:{text}"
        else:
            fields = _form(request)
        self.scripts.append(fields)
        arguments = " ".join(f"{key}={value}" for key, value in sorted(fields.items()) if key != "call")
        script = ET.Element("script", code="0")
        ET.SubElement(script, "call").text = fields.get("call", "")
        ET.SubElement(script, "stdout").text = f"ran {arguments}"
        ET.SubElement(script, "stderr").text = ""
        return _ok(self._response(script))

"""Make the generated OpenAPI schema say what the API really answers (drf-spectacular hook)."""

from search import permissions

ERROR = {
    "type": "object",
    "description": "detail, or the errors of each field",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
METHODS = ("get", "post", "put", "patch", "delete")


def document_errors_and_omissions(result, generator, request, public):
    """Postprocessing hook: document every refusal and leave sensitive fields optional.

    - Sensitive case fields are answered only to the roles that may see them, after a recorded
      reveal: they are never required in an answer.
    - Every operation can be refused: 401 and 403 (who you are), 429 (the rate limit), 404 where
      the path names an object (or a page), 400 where input is read (a body or query
      parameters), and 413 and 415 where there is a body. Each refusal has the same JSON shape.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    case = schemas.get("Case")
    if case and "required" in case:
        sensitive = permissions.ALL_SENSITIVE_FIELDS
        case["required"] = [f for f in case["required"] if f not in sensitive]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            codes = {"401", "403", "429"}
            names = {p.get("name") for p in operation.get("parameters", [])}
            if "{" in path or "page" in names:  # a page past the last is "not found" too
                codes.add("404")
            has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if "requestBody" in operation:
                codes |= {"400", "413", "415"}
            elif has_query:
                codes.add("400")
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                documented = responses.setdefault(code, {"description": "Refused."})
                documented.setdefault("content", error)
    return result

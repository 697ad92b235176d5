-- spec/bad_input/api.lua - bad input to the API routes (JSON bodies,
-- fields, ids): lua/opencomputer/server/api.lua and its neighbours.
return {
  { name = "a body that is not JSON", status = 400, body = "invalid request body",
    request = { method = "POST", path = "/api/sandboxes", body = "{" } },
  { name = "a sandbox id that does not exist", status = 404,
    request = { method = "GET", path = "/api/sandboxes/nope" } },
}

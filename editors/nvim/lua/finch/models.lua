--- Models: :FinchModels (pick one to download or use), :FinchPull NAME (download it, with
--- progress as messages) and :FinchModel [NAME] (show or set the `model` setting). Names
--- complete from the server's `finch.models.list`.

local client = require("finch.client")
local format = require("finch.format")
local notice = require("finch.notice")

local M = {}

M.LIST = "finch.models.list"
M.PULL = "finch.models.pull"

--- The names of docs/protocol.md, offered when the server cannot list its models.
M.KNOWN = { "auto", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-3b", "smollm2-135m", "tiny-qwen2" }

--- The last answer to `finch.models.list`; nil until asked, or after a download started.
--- @type table[]?
M.cache = nil

--- @param models table[]
--- @return string[]
local function names(models)
  local out = {}
  for _, model in ipairs(models) do
    if type(model) == "table" and type(model.name) == "string" then
      out[#out + 1] = model.name
    end
  end
  return out
end

--- The server's models, asked and remembered; `on_result(models)`.
--- @param on_result fun(models: table[])
function M.list(on_result)
  client.execute(M.LIST, {}, function(models)
    M.cache = type(models) == "table" and models or {}
    on_result(M.cache)
  end)
end

--- The server's model names now (for completion, which cannot wait): remembered, else
--- asked with a short time limit. Empty when no server answers.
--- @return string[]
function M.names_now()
  if M.cache then
    return names(M.cache)
  end
  local running = client.get(0)
  if not running then
    return {}
  end
  local reply = running:request_sync("workspace/executeCommand", { command = M.LIST, arguments = {} }, 3000, 0)
  if type(reply) == "table" and not reply.err and type(reply.result) == "table" then
    M.cache = reply.result
  end
  return names(M.cache or {})
end

--- `candidates` that start with `arglead`, each once, in order.
--- @param candidates string[]
--- @param arglead string
--- @return string[]
function M.matching(candidates, arglead)
  local seen, out = {}, {}
  for _, name in ipairs(candidates) do
    if not seen[name] and vim.startswith(name, arglead) then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  return out
end

--- Completion of :FinchPull: the server's models.
--- @param arglead string
--- @return string[]
function M.complete_pull(arglead)
  return M.matching(M.names_now(), arglead)
end

--- Completion of :FinchModel: "auto", the server's models, then the documented names.
--- @param arglead string
--- @return string[]
function M.complete_model(arglead)
  local candidates = { "auto" }
  vim.list_extend(candidates, M.names_now())
  vim.list_extend(candidates, M.KNOWN)
  return M.matching(candidates, arglead)
end

--- Download `name` (`finch.models.pull`); progress comes as `$/progress`, the end as a message.
--- @param name string
--- @param on_result? fun(result: table)
function M.pull(name, on_result)
  client.execute(M.PULL, { name }, function(result)
    if type(result) == "table" and result.started then
      M.cache = nil -- "present" changes when the download ends
    end
    local started = type(result) == "table" and result.started
    notice.notify(format.pull(name, result), started and vim.log.levels.INFO or vim.log.levels.WARN)
    if on_result then
      on_result(result)
    end
  end)
end

--- Set the `model` setting; the server loads the model (its progress shows as messages).
--- @param name string
function M.use(name)
  require("finch").configure({ model = name })
  notice.notify(("finch: model set to %s; the server loads it now"):format(name), vim.log.levels.INFO)
end

--- Show the model in use and the setting.
function M.show_current()
  local setting = vim.tbl_get(require("finch").options or {}, "settings", "model") or "auto"
  client.execute("finch.status", {}, function(status)
    local model = type(status) == "table" and status.model or {}
    notice.notify(("finch: model %s on %s, %s (setting: %s)"):format(format.value(model.name),
      format.value(model.device), format.value(model.state), setting), vim.log.levels.INFO)
  end)
end

--- :FinchModels: pick a model; one not downloaded is downloaded, one downloaded is used.
function M.pick()
  M.list(function(models)
    if #models == 0 then
      notice.notify("finch: the server lists no models", vim.log.levels.WARN)
      return
    end
    vim.ui.select(models, { prompt = "finch: models (pick one to download or use)", format_item = format.model },
      function(model)
        if not model then
          return
        elseif not model.present then
          M.pull(model.name)
        elseif model.active then
          notice.notify(("finch: %s is already in use"):format(model.name), vim.log.levels.INFO)
        else
          M.use(model.name)
        end
      end)
  end)
end

--- Create :FinchModels, :FinchPull NAME and :FinchModel [NAME].
function M.register()
  vim.api.nvim_create_user_command("FinchModels", M.pick, { desc = "finch: list models; download or use one" })
  vim.api.nvim_create_user_command("FinchPull", function(args) M.pull(args.args) end, {
    nargs = 1, complete = M.complete_pull, desc = "finch: download a model, with progress as messages",
  })
  vim.api.nvim_create_user_command("FinchModel", function(args)
    if args.args == "" then
      M.show_current()
    else
      M.use(args.args)
    end
  end, { nargs = "?", complete = M.complete_model, desc = "finch: show the model, or set the model setting" })
end

return M

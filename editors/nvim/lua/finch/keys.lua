--- Insert-mode keys of the ghost text: accept, accept the next word or line, dismiss, ask now.
--- Each key does its usual thing when no suggestion is shown: the mapping that was there
--- before finch's (as copilot.vim does), else the key itself.

local M = {}

--- @class finch.GhostBackend
--- @field accept fun(bufnr: integer): boolean
--- @field accept_word fun(bufnr: integer): boolean
--- @field accept_line fun(bufnr: integer): boolean
--- @field dismiss fun(bufnr: integer): boolean
--- @field suggest? fun(bufnr: integer): boolean

local DESC = "finch: "

--- Type `keys` ahead of what is already typed; `remap` lets mappings apply to them.
--- @param keys string
--- @param remap boolean
local function feed(keys, remap)
  vim.api.nvim_feedkeys(keys, remap and "im" or "in", false)
end

--- What `lhs` did in Insert mode in `bufnr` before finch mapped it.
--- @param lhs string
--- @param bufnr integer
--- @return fun()
function M.fallback(lhs, bufnr)
  local prior = vim.api.nvim_buf_call(bufnr, function() return vim.fn.maparg(lhs, "i", false, true) end)
  local own = type(prior) ~= "table" or vim.tbl_isempty(prior) or vim.startswith(prior.desc or "", DESC)
  if own then
    local keys = vim.keycode(lhs)
    return function() feed(keys, false) end
  end
  local remap = prior.noremap ~= 1
  return function()
    local rhs = prior.rhs
    if prior.callback then
      rhs = prior.callback()
      if prior.expr ~= 1 then
        return
      end
    elseif prior.expr == 1 then
      rhs = vim.fn.eval(rhs)
    end
    if type(rhs) == "string" and rhs ~= "" then
      feed(vim.api.nvim_replace_termcodes(rhs, true, true, true), remap)
    end
  end
end

--- Map the keys of `options` in `bufnr` to `backend`.
--- @param bufnr integer
--- @param options finch.Options
--- @param backend finch.GhostBackend
function M.map(bufnr, options, backend)
  local function map(lhs, action, desc)
    if not lhs or not action then
      return
    end
    local fallback = M.fallback(lhs, bufnr)
    vim.keymap.set("i", lhs, function()
      if not action(bufnr) then
        fallback()
      end
    end, { buffer = bufnr, desc = DESC .. desc })
  end
  map(options.accept_key, backend.accept, "accept the suggestion")
  map(options.accept_word_key, backend.accept_word, "accept the next word of the suggestion")
  map(options.accept_line_key, backend.accept_line, "accept the next line of the suggestion")
  map(options.dismiss_key, backend.dismiss, "dismiss the suggestion")
  map(options.suggest_key, backend.suggest, "ask for a suggestion now")
end

return M

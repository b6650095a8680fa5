-- The plugin as the strictest editor it supports sees it. Its files are
-- loaded with a `vim` of their own in which
--   - what the release notes of 0.10 and 0.11 (`:help news-0.10`,
--     `news-0.11`) list as new is nil, as on Neovim 0.9, the oldest the
--     plugin supports (no 0.9 binary can be installed here);
--   - the synchronous process calls are nil too (`vim.fn.system`,
--     `vim.fn.systemlist`, `vim.wait`, and `io.popen` / `os.execute`):
--     the plugin must never block the editor, so a call to one fails.
-- Neovim's own runtime keeps the real `vim` (it needs `vim.uv`). Returns
-- `load(path)`, which runs one of the plugin's files that way and makes
-- `require("hpm...")` do the same, and the names hidden.
local added_after_0_9 = {
  -- 0.10
  "system",
  "uv",
  "iter",
  "keycode",
  "ringbuf",
  "islist",
  "isarray",
  "snippet",
  "glob",
  "base64",
  "ui.open",
  "fs.joinpath",
  "fs.root",
  "diagnostic.count",
  "diagnostic.is_enabled",
  "api.nvim_win_text_height",
  -- 0.11
  "hl",
  "text",
  "diagnostic.jump",
  "fs.rm",
  "fs.relpath",
  "fs.abspath",
}

-- Calls that would block the editor until a process ends.
local blocking = { "fn.system", "fn.systemlist", "wait" }

-- "fs.root" → hidden["fs"] = { root = true }; "uv" → hidden["uv"] = true.
local hidden = {}
local all = vim.list_extend(vim.list_extend({}, added_after_0_9), blocking)
for _, name in ipairs(all) do
  local owner, key = name:match("^(.-)%.(.+)$")
  if owner then
    hidden[owner] = hidden[owner] or {}
    hidden[owner][key] = true
  else
    hidden[name] = true
  end
end

-- A view of `real` without the names `hide` marks; writes go through.
local function without(real, hide)
  return setmetatable({}, {
    __index = function(_, key)
      local mark = hide[key]
      if mark == true then
        return nil
      end
      local value = real[key]
      if type(mark) == "table" and type(value) == "table" then
        return without(value, mark)
      end
      return value
    end,
    __newindex = function(_, key, value)
      real[key] = value
    end,
  })
end

local env = setmetatable({
  vim = without(vim, hidden),
  io = without(io, { popen = true }),
  os = without(os, { execute = true }),
}, { __index = _G, __newindex = _G })

local function load(path)
  local chunk = assert(loadfile(path))
  setfenv(chunk, env)
  return chunk
end

-- `require("hpm")`, `require("hpm.client")`…: from the plugin's lua/
-- folder, in that environment, before Neovim's own loader looks.
local plugin = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
table.insert(package.loaders, 2, function(module)
  if module ~= "hpm" and not module:match("^hpm%.") then
    return nil
  end
  local base = plugin .. "/lua/" .. module:gsub("%.", "/")
  for _, path in ipairs({ base .. ".lua", base .. "/init.lua" }) do
    if vim.fn.filereadable(path) == 1 then
      return load(path)
    end
  end
  return nil
end)

local names = {}
for _, name in ipairs(all) do
  table.insert(names, "vim." .. name)
end
vim.list_extend(names, { "io.popen", "os.execute" })
return { load = load, hidden = names, vim = env.vim }

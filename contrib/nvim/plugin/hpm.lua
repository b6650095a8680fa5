-- hpm for Neovim: `:Hpm status|switch|sync|dev|use|reset|cancel`, defined
-- as soon as the plugin loads; `require("hpm").setup()` is optional. Nothing
-- here runs a process or touches the disk: the first `:Hpm`, or entering
-- Neovim in a workspace, starts the work (asynchronously).
if vim.g.loaded_hpm then
  return
end
vim.g.loaded_hpm = true

vim.api.nvim_create_user_command("Hpm", function(command)
  require("hpm").command(command.fargs)
end, {
  nargs = "*",
  desc = "hpm: status, switch, sync, dev, use, reset, cancel",
  complete = function(lead, line)
    return require("hpm").complete(lead, line)
  end,
})

local group = vim.api.nvim_create_augroup("hpm", { clear = true })
vim.api.nvim_create_autocmd({ "VimEnter", "DirChanged" }, {
  group = group,
  callback = function()
    -- After startup has finished drawing: attach when cwd is in a workspace.
    vim.schedule(function()
      require("hpm").attach()
    end)
  end,
})
if vim.v.vim_did_enter == 1 then
  -- Loaded late (a plugin manager's lazy loading): VimEnter is gone.
  vim.schedule(function()
    require("hpm").attach()
  end)
end

/* Changing one key of a config file while keeping its comments and unknown lines. */
#ifndef WSCKPT_CONFIG_EDIT_H
#define WSCKPT_CONFIG_EDIT_H

#include <stddef.h>

/*
 * Return a new malloc'd text where `key` in [section] ("" = top level) is set to
 * value_toml (already TOML-encoded: 20, true, "30d"). An existing line is replaced in
 * place (its trailing comment kept); otherwise the line is added at the end of the
 * section, creating the section at the end of the file if needed.
 */
char *config_edit_set(const char *text, const char *section, const char *key, const char *value_toml);

#endif

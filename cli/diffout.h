/* Rendering a list of changes (diff, rollback --preview) as a table or JSON. */
#ifndef WSCKPT_CLI_DIFFOUT_H
#define WSCKPT_CLI_DIFFOUT_H

#include <cjson/cJSON.h>

#include "cli/opts.h"

/* res = {"changes":[{"change","path","old_path"?,"kind"}...]}. Returns a CLI exit code. */
int diff_render(const cJSON *res, enum out_format fmt);

#endif

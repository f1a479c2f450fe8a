/* Byte counts for people: binary prefixes, one decimal. */
#include "cli/units.h"

#include <stdio.h>

void units_bytes(uint64_t n, char *out, size_t outsz)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	size_t i = 0;

	if (outsz == 0)
		return;
	if (n < 1024) {
		snprintf(out, outsz, "%u B", (unsigned)n);
		return;
	}
	v /= 1024.0;
	/* Round as printed: 1023.96 KiB reads "1024.0 KiB" otherwise, so move up at 1023.95. */
	while (v >= 1023.95 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		i++;
	}
	snprintf(out, outsz, "%.1f %s", v, unit[i]);
}

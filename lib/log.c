#include "mcr/log.h"

#include <syslog.h>
#include <unistd.h>

#include "mcr/fs.h"

int mcr_log_line(int fd, const char *prog, time_t at, int prio, const char *msg, mcr_buf *line)
{
	char iso[32];
	mcr_time_iso(at, iso);
	int rc = mcr_buf_printf(line, "%s %s[%ld] %s\n", iso, prog, (long)getpid(), msg);
	if (rc)
		return rc;
	if (fd >= 0 && write(fd, line->ptr, line->len) < 0) {
		/* best effort once open: syslog still has the line */
	}
	syslog(prio, "%s", msg);
	return 0;
}

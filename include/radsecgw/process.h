/* The process around the gateway: detach, privileges, pid file, descriptor limit. */
#ifndef RADSECGW_PROCESS_H
#define RADSECGW_PROCESS_H

struct rg_config;

/* Without -f: fork at once; the first process waits until rg_process_detach_finish (exit 0)
 * or the daemon's exit (exit 1). Returns the pipe's write end, in the daemon only. */
int rg_process_detach_begin(void);
/* The daemon is up: release the waiting first process, stdio to /dev/null. */
void rg_process_detach_finish(int fd);
/* Become user (initgroups, setgid, setuid); 0 or -errno, the reason logged. */
int rg_process_drop_privileges(const char *user);
/* 0 or -errno, the reason logged. */
int rg_process_write_pidfile(const char *path);
/* Soft RLIMIT_NOFILE up to the hard one; a warning when max-connections cannot fit. */
void rg_process_raise_nofile(const struct rg_config *cfg);
/* -t with `user`: the number of files a reload reads that the user cannot read (printed). */
int rg_process_check_files_as_user(const struct rg_config *cfg);

#endif

/*
 * A slower disk for `npm run bench:beside`: LD_PRELOAD this and every fsync and fdatasync of the process
 * (SQLite's commits among them) first sleeps SLOW_FSYNC_US microseconds (default 3000), as on cloud block
 * storage, where an fsync takes milliseconds instead of this VM's third of one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void pause_first(void) {
  const char *us = getenv("SLOW_FSYNC_US");
  usleep(us ? (useconds_t)atoi(us) : 3000);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  pause_first();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  pause_first();
  return real(fd);
}

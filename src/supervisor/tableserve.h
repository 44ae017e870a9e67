/* Handing the clock table to new programs: the exec stub (execstub.S) asks a
 * socket of the supervisor for the table's descriptor. */
#ifndef DETBUILD_TABLESERVE_H
#define DETBUILD_TABLESERVE_H

#include <stddef.h>

/* takes the table's sealed memfd; listens on the socket the exec stub asks */
void tableserve_init(int table_fd);
/* the listening socket (poll it), and the answer to whatever connected */
int tableserve_fd(void);
void tableserve_answer(void);
/* the socket's address as the exec stub needs it: length, then sockaddr_un */
size_t tableserve_addr(unsigned char *buf, size_t max);

#endif

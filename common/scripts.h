/* scripts.h - the Lua sources compiled into the binaries (generated from
 * common/lua/ by the build). */
#ifndef RXD_SCRIPTS_H
#define RXD_SCRIPTS_H

extern const char scripts_orders_lua[];

#endif

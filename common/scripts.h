/* scripts.h - the Lua sources compiled into the binaries (generated from
 * common/lua/ by the build, see common/CMakeLists.txt). */
#ifndef RXD_SCRIPTS_H
#define RXD_SCRIPTS_H

/* The rxd_orders Redis Functions library ("#!lua name=rxd_orders" and the
 * files of common/lua/ joined), and the version it declares ("2.0"). */
extern const char scripts_orders_lib[];
extern const char scripts_orders_version[];

#endif

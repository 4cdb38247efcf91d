/* A companion-app client of a2dpsrcd made with gdbus-codegen from the
 * installed interface XML (docs/dbus-api.md, "Generating a client"):
 *
 *   gdbus-codegen --interface-prefix org.a2dpsrc. --c-namespace A2dpsrc \
 *       --generate-c-code a2dpsrc-manager1 \
 *       /usr/share/dbus-1/interfaces/org.a2dpsrc.Manager1.xml
 *   cc -o gdbus-state gdbus-state.c a2dpsrc-manager1.c \
 *       $(pkg-config --cflags --libs gio-2.0 gio-unix-2.0)
 *
 * Prints the daemon's State, or says why it cannot. */
#include <stdio.h>

#include "a2dpsrc-manager1.h"

int main(void)
{
        GError *error = NULL;
        A2dpsrcManager1 *manager;
        const gchar *state;

        /* GIO honours DBUS_SYSTEM_BUS_ADDRESS, as the daemon does */
        manager = a2dpsrc_manager1_proxy_new_for_bus_sync(
                G_BUS_TYPE_SYSTEM, G_DBUS_PROXY_FLAGS_NONE, "org.a2dpsrc", "/org/a2dpsrc",
                NULL, &error);
        if (!manager) {
                fprintf(stderr, "gdbus-state: %s\n", error->message);
                g_error_free(error);
                return 1;
        }
        /* the proxy read every property when it was made; NULL means no
         * a2dpsrcd answered */
        state = a2dpsrc_manager1_get_state(manager);
        if (!state) {
                fprintf(stderr, "gdbus-state: a2dpsrcd is not running\n");
                g_object_unref(manager);
                return 1;
        }
        printf("%s\n", state);
        g_object_unref(manager);
        return 0;
}

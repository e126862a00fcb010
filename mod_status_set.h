/**
 * @file  mod_status_set.h
 * @brief mod_status_set's C API: set and read a response's status code,
 *        reason phrase, substatus and error code, as IIS's
 *        IHttpResponse::SetStatus() and GetStatus() do.
 *
 * The functions are APR optional functions, so a module that uses them
 * needs no link-time dependency on mod_status_set.  Retrieve them in the
 * optional_fn_retrieve hook; they are NULL when mod_status_set is not
 * loaded:
 *
 * @code
 * #include "mod_status_set.h"
 *
 * static APR_OPTIONAL_FN_TYPE(ss_set_status) *set_status;
 *
 * static void retrieve(void)
 * {
 *     set_status = APR_RETRIEVE_OPTIONAL_FN(ss_set_status);
 * }
 *     ...
 *     ap_hook_optional_fn_retrieve(retrieve, NULL, NULL, APR_HOOK_MIDDLE);
 *     ...
 *     if (set_status
 *         && set_status(r, 403, "IP address rejected", 6, 0) == APR_SUCCESS) {
 *         return HTTP_FORBIDDEN;    (ErrorDocument applies, phrase kept)
 *     }
 * @endcode
 */

#ifndef MOD_STATUS_SET_H
#define MOD_STATUS_SET_H

#include "httpd.h"
#include "apr_optional.h"

/**
 * The version of mod_status_set and of this API, to test at compile time:
 * @code
 * #if MOD_STATUS_SET_VERSION_AT_LEAST(1, 0, 0)
 * @endcode
 * The same number is in debian/changelog and the README (a test checks).
 */
#define MOD_STATUS_SET_VERSION_MAJOR 1
#define MOD_STATUS_SET_VERSION_MINOR 0
#define MOD_STATUS_SET_VERSION_PATCH 0
#define MOD_STATUS_SET_VERSION "1.0.0"

/** Non-zero when this header is version major.minor.patch or later. */
#define MOD_STATUS_SET_VERSION_AT_LEAST(major, minor, patch)              \
    (MOD_STATUS_SET_VERSION_MAJOR > (major)                               \
     || (MOD_STATUS_SET_VERSION_MAJOR == (major)                          \
         && (MOD_STATUS_SET_VERSION_MINOR > (minor)                       \
             || (MOD_STATUS_SET_VERSION_MINOR == (minor)                  \
                 && MOD_STATUS_SET_VERSION_PATCH >= (patch)))))

/**
 * Set the response's status, reason phrase, substatus and error code.
 *
 * Callable from any hook of the request, from post_read_request to the
 * handler and output filters, up to the moment the status line is written.
 * The whole tuple is set: the last call wins.  The status reaches the wire
 * on the request's response (also across internal redirects such as
 * ErrorDocument), and is recorded in the notes status-set-substatus,
 * status-set-error, status-set-reason and status-set-source (= "api"), the
 * environment variables STATUS_SET_SUBSTATUS, STATUS_SET_ERROR and
 * STATUS_SET_REASON, and the log tags %^SS %^SE %^SR.
 *
 * A handler that calls it and returns OK sends its own body with that
 * status.  A hook that calls it and then returns the same error code gets
 * Apache's error response (ErrorDocument applies) with the phrase.  If the
 * request fails afterwards with another code, Apache's error response wins
 * and the status set here is dropped.
 *
 * @param r         the request (a subrequest's status never becomes the
 *                  response's)
 * @param status    200-599
 * @param reason    1-256 bytes of HTAB, SP, visible ASCII and obs-text,
 *                  without leading or trailing white space and without
 *                  < > &; copied.  NULL: the StatusSetReason phrase for the
 *                  code, else Apache's, else the class phrase.
 * @param substatus 0-65535
 * @param error     any value (an errno, an apr_status_t, a Win32 code)
 * @return APR_SUCCESS;
 *         APR_EINVAL for a NULL request, a status outside 200-599, a
 *         substatus outside 0-65535 or an invalid reason (the request is
 *         left unchanged);
 *         APR_ENOMEM when the copy cannot be allocated (unchanged);
 *         APR_EGENERAL when the status line has already been sent
 *         (unchanged).
 */
APR_DECLARE_OPTIONAL_FN(apr_status_t, ss_set_status,
    (request_rec *r, int status, const char *reason, int substatus,
     apr_status_t error));

/**
 * Read the response's status, as IIS's GetStatus() does: the status a
 * setter chose (ss_set_status, a StatusSet rule; after an internal
 * redirect, the one set on the request it came from), else r->status with
 * its phrase.
 *
 * @param r         the request
 * @param status    receives the code; may be NULL
 * @param reason    receives the phrase (pool memory of r); may be NULL
 * @param substatus receives the substatus, 0 when none was set; may be NULL
 * @param error     receives the error code, 0 when none was set; may be NULL
 * @return APR_SUCCESS, or APR_EINVAL for a NULL request.
 */
APR_DECLARE_OPTIONAL_FN(apr_status_t, ss_get_status,
    (request_rec *r, int *status, const char **reason, int *substatus,
     apr_status_t *error));

#endif /* MOD_STATUS_SET_H */

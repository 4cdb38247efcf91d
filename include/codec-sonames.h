/* The shared libraries each codec loads with dlopen when it is first used
 * (codec-lib.h), by soname. bench/rss-floor loads the same ones to measure
 * a codec's library floor, so they are named once, here. */
#ifndef A2DPSRC_CODEC_SONAMES_H
#define A2DPSRC_CODEC_SONAMES_H

/* aptX and aptX HD */
#define APTX_SONAME "libfreeaptx.so.0"
/* LDAC */
#define LDAC_SONAME "libldacBT_enc.so.2"
/* LDAC's adaptive bit rate (optional: without it a2dpsrc steps LDAC itself) */
#define LDAC_ABR_SONAME "libldacBT_abr.so.2"

#ifdef WITH_AAC
#include <libavcodec/version.h>
#include <libavutil/version.h>
/* AAC: the sonames of the headers we build with (Debian 12: 59 and 57):
 * the structures we touch are those of that major version. libavutil is
 * opened first. */
#define CODEC_SONAME_STR_(x) #x
#define CODEC_SONAME_STR(x) CODEC_SONAME_STR_(x)
#define LAVC_SONAME "libavcodec.so." CODEC_SONAME_STR(LIBAVCODEC_VERSION_MAJOR)
#define LAVU_SONAME "libavutil.so." CODEC_SONAME_STR(LIBAVUTIL_VERSION_MAJOR)
#endif

#endif

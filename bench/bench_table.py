"""The comparison table of docs/performance.md, from a run's figures."""

from bench_recording import packet_ms


def fmt(v, nd=1, unit=''):
    if v is None:
        return '—'
    if isinstance(v, str):
        return v
    return ('%.*f' % (nd, v)) + unit


def ratio(a, b, nd=2):
    if a is None or b is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return '—'
    return '%.*f×' % (nd, a / b)


def verdict(ok):
    if ok is None:
        return 'not measured'
    return '**met**' if ok else '**NOT MET**'


def build_table(R):
    """Rows: metric, target, ours, ours under load, bluez-alsa, PipeWire+WP,
    ours/bluez-alsa, ours/PW, met."""
    o, ol = R['runs'].get('ours-sine'), R['runs'].get('ours-sine-load')
    om = R['runs'].get('ours-music')
    ba, pw = R['runs'].get('bluealsa-sine'), R['runs'].get('pipewire-sine')
    bam, pwm = R['runs'].get('bluealsa-music'), R['runs'].get('pipewire-music')
    fl = R['floor']
    floor_ms = fl['sine']['cpu_per_audio_s'] * 1000
    floor_music_ms = fl['music']['cpu_per_audio_s'] * 1000
    pkt_ms = packet_ms()
    rows = []
    notes = R.setdefault('peer_notes', {})

    def peer_cell(run, getter, nd=1, kind=None):
        if run is None:
            why = notes.get(kind) or 'not run'
            return 'not measured: %s' % why
        if isinstance(run, dict) and run.get('error'):
            return 'not measured: %s' % run['error']
        try:
            return fmt(getter(run), nd)
        except (KeyError, TypeError):
            return '—'

    def val(run, getter):
        if not run or run.get('error'):
            return None
        try:
            return getter(run)
        except (KeyError, TypeError):
            return None

    def meets(getter, test):
        """test() on ours, and on ours under load when that ran."""
        v = val(o, getter)
        if v is None:
            return None
        ok = bool(test(v))
        if ol and not ol.get('error'):
            vl = val(ol, getter)
            ok = ok and vl is not None and bool(test(vl))
        return ok

    def row(metric, target, getter, nd=1, met=None, ratios=True, load=True, peers=True):
        ours = val(o, getter)
        rows.append([metric, target, fmt(ours, nd),
                     fmt(val(ol, getter), nd) if load else '',
                     peer_cell(ba, getter, nd, 'bluealsa') if peers else 'n/a',
                     peer_cell(pw, getter, nd, 'pipewire') if peers else 'n/a',
                     ratio(ours, val(ba, getter)) if ratios and peers else '',
                     ratio(ours, val(pw, getter)) if ratios and peers else '',
                     met if met is not None else ''])

    cpu = lambda r: r['cpu']['per_audio_s'] * 1000   # noqa: E731
    ours_cpu, load_cpu = val(o, cpu), val(ol, cpu)
    ba_cpu, pw_cpu = val(ba, cpu), val(pw, cpu)
    m1 = None if ours_cpu is None else ours_cpu <= 3 * floor_ms
    m1l = None if load_cpu is None else load_cpu <= 3 * floor_ms
    m2 = None if ba_cpu is None or ours_cpu is None else ours_cpu <= 0.15 * ba_cpu
    m3 = None if pw_cpu is None or ours_cpu is None else ours_cpu <= 0.1 * pw_cpu
    row('CPU, ms per audio-second, daemon process(es), sine (PipeWire: pipewire + wireplumber)',
        '≤ 3× floor = %.2f' % (3 * floor_ms), cpu, 2,
        met='≤3× floor: %s (load: %s); ≤0.15× bluez-alsa: %s; ≤0.1× PW+WP: %s'
            % (verdict(m1), verdict(m1l), verdict(m2), verdict(m3)))
    rows.append(['CPU ÷ floor (libsbc alone, %.3f ms/s sine, %.3f ms/s music, same run)' % (floor_ms, floor_music_ms),
                 '≤ 3×', ratio(ours_cpu, floor_ms, 1), ratio(load_cpu, floor_ms, 1),
                 ratio(ba_cpu, floor_ms, 1) if ba_cpu else peer_cell(ba, cpu, 2, 'bluealsa'),
                 ratio(pw_cpu, floor_ms, 1) if pw_cpu else peer_cell(pw, cpu, 2, 'pipewire'),
                 '', '', verdict(m1)])
    paced_ms = fl['paced']['cpu_per_audio_s'] * 1000
    rows.append(['CPU ÷ paced floor (libsbc + 1 timerfd wake-up + 1 send per packet: %.2f ms/s, same run)'
                 % paced_ms, '—', ratio(ours_cpu, paced_ms, 1), ratio(load_cpu, paced_ms, 1),
                 ratio(ba_cpu, paced_ms, 1) if ba_cpu else peer_cell(ba, cpu, 2, 'bluealsa'),
                 ratio(pw_cpu, paced_ms, 1) if pw_cpu else peer_cell(pw, cpu, 2, 'pipewire'), '', '', ''])
    music_cpu = lambda r: r['cpu']['per_audio_s'] * 1000   # noqa: E731
    rows.append(['CPU, ms per audio-second, music', '≤ 3× floor = %.2f' % (3 * floor_music_ms),
                 fmt(val(om, music_cpu), 2), '',
                 peer_cell(bam, music_cpu, 2, 'bluealsa'), peer_cell(pwm, music_cpu, 2, 'pipewire'),
                 ratio(val(om, music_cpu), val(bam, music_cpu)), ratio(val(om, music_cpu), val(pwm, music_cpu)),
                 verdict(None if val(om, music_cpu) is None else val(om, music_cpu) <= 3 * floor_music_ms)])
    client = lambda r: r['client_cpu_per_audio_s'] * 1000   # noqa: E731
    rows.append(['CPU of the feeding client, ms per audio-second (aplay / pw-play), sine', '—',
                 'in-process', '', peer_cell(ba, client, 2, 'bluealsa'), peer_cell(pw, client, 2, 'pipewire'),
                 '', '', ''])
    if fl.get('capture_sine') and fl.get('capture_music'):
        cap_s = fl['capture_sine']['cpu_per_audio_s'] * 1000
        cap_m = fl['capture_music']['cpu_per_audio_s'] * 1000
        rows.append(['Capture alone through the test plugin, same period, in its own process '
                     '(capture-floor), ms per audio-second, sine / music', '—',
                     '%.2f / %.2f' % (cap_s, cap_m), '', '', '', '', '', ''])
        net = lambda v, c: None if v is None else v - c   # noqa: E731
        o_net, om_net = net(ours_cpu, cap_s), net(val(om, music_cpu), cap_m)
        rows.append(['a2dpsrc CPU minus capture alone (≈ the daemon\'s own share), sine / music, ms per '
                     'audio-second; peers: their daemon (their feed runs in the client)', '—',
                     '%s / %s' % (fmt(o_net, 2), fmt(om_net, 2)),
                     fmt(net(load_cpu, cap_s), 2),
                     '%s / %s' % (fmt(ba_cpu, 2), fmt(val(bam, music_cpu), 2)),
                     '%s / %s' % (fmt(pw_cpu, 2), fmt(val(pwm, music_cpu), 2)),
                     '%s / %s' % (ratio(o_net, ba_cpu), ratio(om_net, val(bam, music_cpu))),
                     '%s / %s' % (ratio(o_net, pw_cpu), ratio(om_net, val(pwm, music_cpu))),
                     '≤0.15× bluez-alsa: %s; ≤0.1× PW+WP: %s' % (
                         verdict(None if o_net is None or ba_cpu is None else o_net <= 0.15 * ba_cpu),
                         verdict(None if o_net is None or pw_cpu is None else o_net <= 0.1 * pw_cpu))])
    cg = R.get('callgrind') or {}
    if cg.get('daemon') and cg.get('floor'):
        fpa = cg['floor']['per_audio_s']
        bcg = cg.get('bluealsa') or {}
        # user-space instructions only: the kernel's share (wake-ups,
        # system calls), which dominates CPU time on this VM, is not in it
        rows.append(['User-space instructions per audio-second (callgrind, %.0f s, sine, capture included): '
                     'daemon process / floor (sbc_encode only)' % cg['daemon']['audio_s'],
                     '≤ 3×', '%.2fM / %.2fM = %s' % (cg['daemon']['per_audio_s'] / 1e6, fpa / 1e6,
                                                    ratio(cg['daemon']['per_audio_s'], fpa, 2)),
                     '', '%.2fM' % (bcg['per_audio_s'] / 1e6) if bcg.get('per_audio_s') else
                     'not measured' + (': ' + cg['bluealsa_error'] if cg.get('bluealsa_error') else ''),
                     'not measured (valgrind)',
                     ratio(cg['daemon']['per_audio_s'], bcg.get('per_audio_s')) if bcg.get('per_audio_s') else '',
                     '',
                     'in user-space instructions: %s (kernel time not counted); sbc_encode is %.0f%% of them'
                     % (verdict(cg['daemon']['per_audio_s'] <= 3 * fpa),
                        100 * (cg['daemon'].get('sbc_encode_share') or 0))])
        rows.append(['… without the test capture plugin (its copy of the signal is %.0f%% of the daemon\'s instructions)'
                     % (100.0 * cg['daemon']['test_plugin_inclusive'] / cg['daemon']['instructions']),
                     '—', '%.2fM / %.2fM = %s' % (cg['daemon']['without_test_plugin_per_audio_s'] / 1e6, fpa / 1e6,
                                                  ratio(cg['daemon']['without_test_plugin_per_audio_s'], fpa, 2)),
                     '', '', '', '', '', ''])
    full = lambda r: r['speaker']['full_packets_pct']   # noqa: E731
    row('Packets full (as many frames as fit MTU 895: 7), %', '≥ 95', full, 1,
        met=verdict(meets(full, lambda v: v >= 95)))
    row('Packets with a single SBC frame, %', '—', lambda r: r['speaker']['single_frame_pct'], 1, ratios=False)
    wk = lambda r: r['wakeups']['thread_voluntary_per_s']   # noqa: E731
    allowed = None
    if o and o['wakeups'].get('periods_per_s'):
        allowed = o['wakeups']['packets_per_s'] + o['wakeups']['periods_per_s']
    row('Wake-ups/s of the streaming thread (voluntary context switches)',
        '≤ packets/s + periods/s = %s' % fmt(allowed, 1), wk, 1,
        met=verdict(meets(wk, lambda v: allowed is not None and v <= allowed)))
    row('… per packet sent', '≤ 2', lambda r: r['wakeups']['thread_voluntary_per_packet'], 2)
    row('Wake-ups/s, all threads of the daemon process(es)', '—',
        lambda r: r['wakeups']['process_voluntary_per_s'], 1)
    # latency
    def dlat(run):
        if not run or run.get('error'):
            return '—'
        d = run['daemon_latency_us']
        # percentiles are the upper bounds of 0.5 ms buckets
        pct = lambda us: ('≤ %.1f' % (us / 1000.0)) if us <= 500 else ('%.1f' % (us / 1000.0))   # noqa: E731
        return '%s / %s / %.2f' % (pct(d['p50']), pct(d['p99']), d['max'] / 1000.0)
    rows.append(['Capture→wire latency, daemon\'s own Statistics (read → send, whole run), p50 / p99 / max, ms',
                 '—', dlat(o), dlat(ol),
                 'n/a (no such statistics)', 'n/a (no such statistics)', '', '', ''])
    sl = lambda k: (lambda r: r['speaker']['latency']['ms'][k])   # noqa: E731
    rows.append(['Capture→speaker latency, test clock (last sample of each packet), p50 / p99 / max, ms',
                 '—', '%s / %s / %s' % (fmt(val(o, sl('p50'))), fmt(val(o, sl('p99'))), fmt(val(o, sl('max')))),
                 '%s / %s / %s' % (fmt(val(ol, sl('p50'))), fmt(val(ol, sl('p99'))), fmt(val(ol, sl('max')))),
                 'n/a: fed from a file by aplay, no capture clock', 'n/a: fed from a file by pw-play, no capture clock',
                 '', '', ''])
    oldest = lambda r: r['speaker']['latency']['ms']['p99'] + pkt_ms   # noqa: E731
    lat_target = pkt_ms + 5
    ok_lat = None if val(o, oldest) is None else val(o, oldest) <= lat_target
    ok_lat_l = None if val(ol, oldest) is None else val(ol, oldest) <= lat_target
    rows.append(['… p99 for the oldest sample of a packet, derived (not measured): last-sample p99 + one '
                 'packet, %.1f ms' % pkt_ms,
                 '≤ %.1f' % lat_target, fmt(val(o, oldest)), fmt(val(ol, oldest)), 'n/a', 'n/a', '', '',
                 '%s (load: %s)' % (verdict(ok_lat), verdict(ok_lat_l))])
    musl = lambda r: r['speaker']['latency']['ms']['p99']   # noqa: E731
    rows.append(['Capture→speaker p99, music (reference alignment), ms', '—', fmt(val(om, musl)), '',
                 'n/a', 'n/a', '', '', ''])
    # pacing
    ivm = lambda r: r['speaker']['interval_ms']['mean']   # noqa: E731
    ivs = lambda r: r['speaker']['interval_ms']['stddev']   # noqa: E731
    ivx = lambda r: r['speaker']['interval_ms']['max']   # noqa: E731
    row('Inter-packet interval, mean, ms', '%.1f' % pkt_ms, ivm, 2)
    row('Inter-packet interval, std dev, ms', '≤ 1', ivs, 2,
        met=verdict(meets(ivs, lambda v: v <= 1)))
    row('Inter-packet interval, max, ms', '—', ivx, 1)
    dr = lambda r: r['speaker']['drift_ms_per_min']   # noqa: E731
    row('RTP timestamp drift vs wall clock, ms per minute', '≤ 1 (abs)', dr, 2,
        met=verdict(meets(dr, lambda v: abs(v) <= 1)),
        ratios=False)
    row('RTP vs wall, largest excursion, ms', '—', lambda r: r['speaker']['drift_ms_max_excursion'], 1,
        ratios=False)
    snr = lambda r: r['speaker']['snr_db']   # noqa: E731
    row('SNR of the decoded 997 Hz sine, dB (all three encode with libsbc: equal figures cannot tell the '
        'senders apart, only show none of them damages the audio)', '≥ 65', snr, 1,
        met=verdict(meets(snr, lambda v: v >= 65)), ratios=False)
    msnr = lambda r: r['speaker']['snr_vs_ref_db']   # noqa: E731
    rows.append(['SNR of the decoded music vs its source, dB (libsbc for all, as above)', '—', fmt(val(om, msnr)), '',
                 peer_cell(bam, msnr, 1, 'bluealsa'), peer_cell(pwm, msnr, 1, 'pipewire'), '', '', ''])
    rows.append(['Audio dropped / capture xruns in the window', '0', '%s ms / %s' % (
        val(o, lambda r: r['stats_window']['DroppedMs']), val(o, lambda r: r['stats_window']['CaptureXruns'])),
        '%s ms / %s' % (val(ol, lambda r: r['stats_window']['DroppedMs']),
                        val(ol, lambda r: r['stats_window']['CaptureXruns'])), 'n/a', 'n/a', '', '', ''])
    # memory
    def rss(r):
        if 'peak_rss_kib' in r and isinstance(r['peak_rss_kib'], dict):
            return ' + '.join('%.1f' % (v / 1024) for v in r['peak_rss_kib'].values())
        return r['memory']['peak_rss_kib'] / 1024.0
    rss_sum = lambda r: (sum(r['peak_rss_kib'].values()) if isinstance(r.get('peak_rss_kib'), dict)   # noqa: E731
                         else r['memory']['peak_rss_kib']) / 1024.0
    ok_rss = meets(rss_sum, lambda v: v <= 4.0)
    rows.append(['Peak RSS (VmHWM), MiB', '≤ 4', fmt(val(o, rss_sum), 2), fmt(val(ol, rss_sum), 2),
                 peer_cell(ba, rss, 2, 'bluealsa'), peer_cell(pw, rss, 2, 'pipewire'),
                 ratio(val(o, rss_sum), val(ba, rss_sum)), ratio(val(o, rss_sum), val(pw, rss_sum)),
                 verdict(ok_rss)])

    lib_floor = (R.get('floor') or {}).get('rss_floor', {}).get('peak_rss_kib_median')
    if lib_floor:
        own = lambda r: rss_sum(r) - lib_floor / 1024.0   # noqa: E731
        rows.append(['… the daemon\'s libraries alone (rss-floor: a process that loads them and exits, '
                     'median of 5, same run), MiB', '—', fmt(lib_floor / 1024.0, 2), '', '', '', '', '', ''])
        rows.append(['… peak RSS above that floor (the daemon\'s own code, data and the library pages it '
                     'touches), MiB', '—', fmt(val(o, own), 2), fmt(val(ol, own), 2), '', '', '', '', ''])

    def pd(r):
        m = r['memory']
        if 'private_dirty_kib' in m:
            return m['private_dirty_kib'] / 1024.0
        return sum(x['private_dirty_kib'] for x in m.values()) / 1024.0
    row('Private dirty memory, MiB', '—', pd, 2)
    st = R.get('startup') or {}
    ready = st.get('ours', {}).get('ready_ms_median')
    rows.append(['Start-up: process start → READY=1, median of %d, ms' % len(st.get('ours', {}).get('ready_ms', [])),
                 '≤ 50', fmt(ready, 1), '', 'n/a (no sd_notify)', 'n/a (no sd_notify)', '', '',
                 verdict(None if ready is None else ready <= 50)])
    reg = lambda k: (st.get(k) or {}).get('registered_ms_median')   # noqa: E731
    rows.append(['Start-up: process start → endpoint registered with BlueZ, median, ms', '—',
                 fmt(reg('ours'), 1), '',
                 fmt(reg('bluealsa'), 1) if reg('bluealsa') else 'not measured: %s' % notes.get('bluealsa', 'not run'),
                 fmt(reg('pipewire'), 1) if reg('pipewire') else 'not measured: %s' % notes.get('pipewire', 'not run'),
                 ratio(reg('ours'), reg('bluealsa')), ratio(reg('ours'), reg('pipewire')), ''])
    return rows


HEADER = ['metric', 'target', 'a2dpsrc', 'a2dpsrc under load', 'bluez-alsa', 'PipeWire+WP',
          'a2dpsrc / bluez-alsa', 'a2dpsrc / PW+WP', 'met?']


def markdown_table(rows, header=None):
    header = header or HEADER
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        lines.append('| ' + ' | '.join(str(c).replace('|', '\\|') for c in r) + ' |')
    return '\n'.join(lines)

#!/usr/bin/env python3
"""Runs a command under a seccomp filter that refuses, with EPERM, what makes a whiteout device: mknod(2),
mknodat(2), and renameat2(2) with RENAME_WHITEOUT. Everything else is allowed. Used by WhiteoutFallbackTest to
build a process that may not make 0/0 whiteouts, as a process without CAP_MKNOD in older kernels' user
namespaces could not. x86-64 only (the filter allows every call of another architecture)."""
import ctypes
import os
import struct
import sys

ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
LD_W_ABS, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
ARCH_X86_64, NR_MKNOD, NR_MKNODAT, NR_RENAMEAT2, RENAME_WHITEOUT = 0xC000003E, 133, 259, 316, 4


def insn(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


prog = [
    insn(LD_W_ABS, 4),                       # 0: seccomp_data.arch
    insn(JEQ_K, ARCH_X86_64, 1, 0),          # 1
    insn(RET_K, ALLOW),                      # 2
    insn(LD_W_ABS, 0),                       # 3: seccomp_data.nr
    insn(JEQ_K, NR_MKNOD, 5, 0),             # 4 -> 10
    insn(JEQ_K, NR_MKNODAT, 4, 0),           # 5 -> 10
    insn(JEQ_K, NR_RENAMEAT2, 1, 0),         # 6 -> 8
    insn(RET_K, ALLOW),                      # 7
    insn(LD_W_ABS, 16 + 4 * 8),              # 8: args[4] (flags), low word
    insn(JSET_K, RENAME_WHITEOUT, 0, 1),     # 9 -> 10 / 11
    insn(RET_K, EPERM),                      # 10
    insn(RET_K, ALLOW),                      # 11
]
code = b"".join(prog)
buf = ctypes.create_string_buffer(code, len(code))
fprog = struct.pack("HxxxxxxQ", len(prog), ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog, len(fprog))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
        libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
    sys.exit("no-mknod: installing the filter failed: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])

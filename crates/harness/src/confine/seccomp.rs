//! The seccomp filter every sandboxed agent runs under: a classic BPF
//! program, handed to bubblewrap (`--seccomp FD`), that refuses the system
//! calls an agent has no use for and a sandbox escape would need.
//!
//! Refused with `EPERM` in every [`Nesting`]: `ptrace` and cross-process
//! memory access, the kernel keyring, `bpf`, `perf_event_open`, loading
//! kernels and modules, `userfaultfd`, `open_by_handle_at` (which opens
//! files by handle, past the mount table), swap, reboot, accounting, quota,
//! the kernel log and `setns`. [`Nesting::None`] also refuses every mount
//! call (`mount`, `umount2`, `pivot_root` and the new mount API); an agent
//! whose own CLI sandboxes its commands ([`Nesting::AgentSandbox`]) keeps
//! them, since that sandbox mounts inside a namespace of its own, where the
//! kernel locks every mount it inherited from ours.
//!
//! A system call of another architecture (i386 through `int 0x80` on
//! x86-64, the x32 ABI) kills the process: the numbers below are only
//! those of the native one.
//!
//! The filter is plain data so that it can be unit-tested: [`program`]
//! returns the instructions, [`encode`] their bytes in the kernel's
//! `struct sock_filter` layout.

use super::Nesting;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets into `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;

pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ERRNO | EPERM`.
pub(crate) const RET_EPERM: u32 = 0x0005_0000 | 1;

/// The native architecture's system calls the filter names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Numbers at or above this are another ABI (x32): killed.
    pub foreign_from: Option<u32>,
    /// Refused in every nesting.
    pub always: &'static [(&'static str, u32)],
    /// Refused unless the agent runs its own sandbox inside.
    pub mounts: &'static [(&'static str, u32)],
}

#[cfg(target_arch = "x86_64")]
pub(crate) const NATIVE: Option<Table> = Some(Table {
    arch: 0xC000_003E,
    foreign_from: Some(0x4000_0000),
    always: &[
        ("ptrace", 101),
        ("syslog", 103),
        ("acct", 163),
        ("swapon", 167),
        ("swapoff", 168),
        ("reboot", 169),
        ("iopl", 172),
        ("ioperm", 173),
        ("init_module", 175),
        ("delete_module", 176),
        ("quotactl", 179),
        ("lookup_dcookie", 212),
        ("kexec_load", 246),
        ("add_key", 248),
        ("request_key", 249),
        ("keyctl", 250),
        ("perf_event_open", 298),
        ("open_by_handle_at", 304),
        ("setns", 308),
        ("process_vm_readv", 310),
        ("process_vm_writev", 311),
        ("finit_module", 313),
        ("kexec_file_load", 320),
        ("bpf", 321),
        ("userfaultfd", 323),
    ],
    mounts: &[
        ("pivot_root", 155),
        ("mount", 165),
        ("umount2", 166),
        ("open_tree", 428),
        ("move_mount", 429),
        ("fsopen", 430),
        ("fsconfig", 431),
        ("fsmount", 432),
        ("fspick", 433),
        ("mount_setattr", 442),
    ],
});

#[cfg(target_arch = "aarch64")]
pub(crate) const NATIVE: Option<Table> = Some(Table {
    arch: 0xC000_00B7,
    foreign_from: None,
    always: &[
        ("lookup_dcookie", 18),
        ("quotactl", 60),
        ("acct", 89),
        ("kexec_load", 104),
        ("init_module", 105),
        ("delete_module", 106),
        ("syslog", 116),
        ("ptrace", 117),
        ("reboot", 142),
        ("add_key", 217),
        ("request_key", 218),
        ("keyctl", 219),
        ("swapon", 224),
        ("swapoff", 225),
        ("perf_event_open", 241),
        ("open_by_handle_at", 265),
        ("setns", 268),
        ("process_vm_readv", 270),
        ("process_vm_writev", 271),
        ("finit_module", 273),
        ("bpf", 280),
        ("userfaultfd", 282),
        ("kexec_file_load", 294),
    ],
    mounts: &[
        ("umount2", 39),
        ("mount", 40),
        ("pivot_root", 41),
        ("open_tree", 428),
        ("move_mount", 429),
        ("fsopen", 430),
        ("fsconfig", 431),
        ("fsmount", 432),
        ("fspick", 433),
        ("mount_setattr", 442),
    ],
});

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const NATIVE: Option<Table> = None;

/// The filter for `nesting` on the architecture `table` describes.
pub(crate) fn program(table: &Table, nesting: Nesting) -> Vec<Insn> {
    let refused: Vec<u32> = table
        .always
        .iter()
        .chain(match nesting {
            Nesting::None => table.mounts,
            Nesting::AgentSandbox => &[],
        })
        .map(|(_, nr)| *nr)
        .collect();
    let stmt = |code, k| Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let mut insns = vec![
        stmt(LD_W_ABS, ARCH),
        Insn {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: table.arch,
        },
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR),
    ];
    if let Some(from) = table.foreign_from {
        insns.push(Insn {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: from,
        });
        insns.push(stmt(RET_K, RET_KILL_PROCESS));
    }
    // Each comparison jumps forward to the one refusal at the end: after
    // the k-th of n comparisons come n-k-1 more and the `allow`.
    let n = refused.len();
    for (k, nr) in refused.iter().enumerate() {
        insns.push(Insn {
            code: JEQ_K,
            jt: u8::try_from(n - k).unwrap_or(u8::MAX),
            jf: 0,
            k: *nr,
        });
    }
    insns.push(stmt(RET_K, RET_ALLOW));
    insns.push(stmt(RET_K, RET_EPERM));
    insns
}

/// The bytes of `insns` as the kernel reads them (native endianness).
pub(crate) fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program the way the kernel does, for a call `nr` of `arch`.
    fn verdict(insns: &[Insn], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let insn = insns[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => acc = if insn.k == ARCH { arch } else { nr },
                JEQ_K => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
                JGE_K => pc += usize::from(if acc >= insn.k { insn.jt } else { insn.jf }),
                RET_K => return insn.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn refuses_what_it_names_and_allows_the_rest() {
        let table = NATIVE.expect("a supported architecture");
        let strict = program(&table, Nesting::None);
        let nested = program(&table, Nesting::AgentSandbox);
        for (name, nr) in table.always {
            assert_eq!(verdict(&strict, table.arch, *nr), RET_EPERM, "{name}");
            assert_eq!(verdict(&nested, table.arch, *nr), RET_EPERM, "{name}");
        }
        for (name, nr) in table.mounts {
            assert_eq!(verdict(&strict, table.arch, *nr), RET_EPERM, "{name}");
            assert_eq!(verdict(&nested, table.arch, *nr), RET_ALLOW, "{name}");
        }
        let named: Vec<u32> = table
            .always
            .iter()
            .chain(table.mounts)
            .map(|(_, nr)| *nr)
            .collect();
        for nr in (0..460).filter(|nr| !named.contains(nr)) {
            assert_eq!(verdict(&strict, table.arch, nr), RET_ALLOW, "call {nr}");
        }
        // Another architecture's calls die, whatever their number.
        assert_eq!(verdict(&strict, 0x4000_0003, 1), RET_KILL_PROCESS);
        if let Some(from) = table.foreign_from {
            assert_eq!(verdict(&strict, table.arch, from + 1), RET_KILL_PROCESS);
        }
    }

    #[test]
    fn instructions_encode_as_struct_sock_filter() {
        let bytes = encode(&[Insn {
            code: RET_K,
            jt: 1,
            jf: 2,
            k: RET_ALLOW,
        }]);
        let mut expected = RET_K.to_ne_bytes().to_vec();
        expected.extend([1, 2]);
        expected.extend(RET_ALLOW.to_ne_bytes());
        assert_eq!(bytes, expected);
    }
}

#!/bin/sh
# The guest's part of KernelNfsClientVmTest, run by the initramfs's /init (scripts/vm-assets.sh) after the modules
# are loaded and eth0 is 10.0.2.15. Every check prints "@@OK name ..." or "@@FAIL name ..." on the console; the
# test reads them, and then compares the "@@FILE"/"@@DIR" manifest with a kernel overlay mount of the layers.
# /guest/config sets PORT (overlayj serve's NFS+MOUNT port on the host, reached as 10.0.2.2), LOCKS (1: the server
# has NLM, mount without nolock and test locks), BIG_MIB, OPS, SEED.
. /guest/config
M=/mnt
C=/guest/ojcheck
ok() { n=$1; shift; echo "@@OK $n $*"; }
fail() { n=$1; shift; echo "@@FAIL $n $*"; }
check() { n=$1; d=$2; shift 2; if "$@"; then ok "$n" "$d"; else fail "$n" "$d"; fi; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
ino() { stat -c %i "$1" 2>&1; }

opts="vers=3,proto=tcp,port=$PORT,mountport=$PORT,mountproto=tcp,addr=10.0.2.2,hard,timeo=100,retrans=4"
if [ "$LOCKS" = 1 ]; then
    # the kernel's lock client asks the local statd (found through the local rpcbind) to monitor the server
    rpcbind -w || fail rpcbind "did not start"
    rpc.statd --no-notify || fail statd "did not start"
else
    opts="$opts,nolock"
fi
echo "@@VM guest script: locks=$LOCKS big=${BIG_MIB}MiB ops=$OPS"
if ! $C mount 10.0.2.2:/ $M "$opts"; then echo "@@END"; exit 0; fi

# --- the seed scenario: two lower hard links are one file -----------------------------------------------------------
a=$(ino $M/hl/a) b=$(ino $M/hl/b) n=$(stat -c %h $M/hl/a)
check seed-one-fileid "a=$a b=$b nlink=$n" [ "$a" = "$b" -a "$n" = 2 ]
echo more >> $M/hl/a
got=$(cat $M/hl/b)
check seed-append-seen "b reads '$(echo "$got" | tr '\n' '|')' after an append through a" [ "$got" = "seed
more" ]
drop
a2=$(ino $M/hl/a) b2=$(ino $M/hl/b) n2=$(stat -c %h $M/hl/b)
got=$(cat $M/hl/b)
check seed-fileid-kept "after copy-up a=$a2 b=$b2 (before $a) nlink=$n2" [ "$a2" = "$a" -a "$b2" = "$a" -a "$n2" = 2 -a "$got" = "seed
more" ]

# --- directory rename: a lower directory and one made here -----------------------------------------------------------
x=$(ino $M/d1/x)
mv $M/d1 $M/d2
mkdir $M/newdir && echo fresh > $M/newdir/f && mv $M/newdir $M/d2/moved
drop
check rename-dir "d1 -> d2: x=$(ino $M/d2/x) (was $x), sub/y '$(cat $M/d2/sub/y)'" \
    [ ! -e $M/d1 -a "$(cat $M/d2/x)" = "lower x" -a "$(cat $M/d2/sub/y)" = "lower y" -a "$(ino $M/d2/x)" = "$x" ]
check rename-new-dir "newdir -> d2/moved" [ ! -e $M/newdir -a "$(cat $M/d2/moved/f)" = fresh ]

# --- a large file, fsync, read back with the caches dropped -------------------------------------------------------
$C big write $M/big.bin "$BIG_MIB" "$SEED"
drop
$C big verify $M/big.bin "$BIG_MIB" "$SEED"

# --- locks -----------------------------------------------------------------------------------------------------------
if [ "$LOCKS" = 1 ]; then $C locks $M/lockfile; fi

# --- the host restarts the server while descriptors (and a lock) are open -----------------------------------------
$C restart $M/r "$LOCKS"

# --- data integrity: random operations against a model --------------------------------------------------------------
$C workload $M/wl "$OPS" "$SEED"

# --- what the guest sees, for the host to compare with the kernel overlay --------------------------------------------
drop
(cd $M && find . -type d | sort) | while read -r d; do echo "@@DIR ${d#./}"; done
(cd $M && find . -type f | sort) | while read -r f; do
    echo "@@FILE ${f#./} $(stat -c '%i %h %s' "$M/$f") $(sha256sum < "$M/$f" | cut -d' ' -f1)"
done
check umount "" umount $M
echo "@@END"

# gpu_hold.sh - sourced by the GPU check scripts: hold_gpu SECONDS starts a
# PyTorch process that takes all of GPU 0 but 15.47 GiB (what an RTX 5070
# Ti's driver reports as total, the guide's card) for SECONDS, waits until it
# holds the memory, and leaves its pid in $holder.
hold_gpu() {
  rm -f /tmp/vf_held
  python3 - "$1" <<'PY' &
import sys, time, torch
free, total = torch.cuda.mem_get_info()
keep = int(15.47 * 2**30)
x = torch.empty(free - keep, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
open("/tmp/vf_held", "w").write(str(free - keep))
time.sleep(int(sys.argv[1]))
PY
  holder=$!
  for _ in $(seq 120); do [ -f /tmp/vf_held ] && break; sleep 0.5; done
}

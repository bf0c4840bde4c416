"""``cposim astra`` on ASTRA-sim's shipped microbenchmarks: the ET files byte for byte, and the
finish ticks derived by hand from ASTRA-sim's formulas (the lock-step closed forms in the
docstrings of sim/astra/algorithms/), compared exactly (integers)."""

import hashlib

import pytest

from sim.astra import run_astra
from sim.astra.microbench import write_microbenchmark, write_network, write_system

MB = 1 << 20
OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")

# git blob ids of ASTRA-sim's shipped files, astra-sim/astra-sim commit 518bd513 (master,
# 2026-03-25), examples/workload/microbenchmarks/<op>/8npus_1MB/<op>.<i>.et, i = 0..7
# (= `git ls-tree -r 518bd513 examples/workload/microbenchmarks`).
SHIPPED_BLOBS = {
    "all_reduce": ["ea968f4071245b01039cbb9e704f301e3203484f",
                   "fbcee3b505df37214191da627eb49a25983cdae7",
                   "42f3f05459f77804ee2ebc47020d02becf7eb8ee",
                   "c3488e26cdc7becef45f5a05f5f687593044d22d",
                   "72052d2a881782454e737766ff32b3fe699fda9c",
                   "22088cbe54281de65fb54d497a1543e5aedf3d25",
                   "045b36071c3c75f6f1fabd7924d7c4515d262e4b",
                   "fc8c4c520d4f9424798086833b2521cf59f3ff30"],
    "all_gather": ["16abd39ce5c86e503301ef3086509e85da5a880b",
                   "3bf545e236320277e6f05ad352131e345bceafa3",
                   "f9318e73411735fb008e3bb1a65cd59a0a3172be",
                   "21413a715fb052bfc25465838cdfca5a16801da0",
                   "d4a6f0e9884d851952cd64b2ed22a425bb936b05",
                   "65d1574a4e44f1e3966a0ecb3b2ac628ce7eec8c",
                   "05edf8ee38080c7557d5bbe7ee339207635c7991",
                   "4cf65e2e29073a518afd107bd8972c489e66e056"],
    "reduce_scatter": ["d82bf401d411a023f665d74de571a447b2af28f4",
                       "d53b6de07cd3c928384d8b75b7793e0469122b86",
                       "b9fddbddeb3c4cdeffc272681c088e022cb5ba5a",
                       "26add236d114a0ebeb0669543887bb4e2904c9eb",
                       "125ab30d3326ea0d2d076879021a47806750bb9e",
                       "9c6b931882f4594847552637db5a5569e8b03064",
                       "9443b8cfc0f2f2676225cc9e5d090ce0abcd9115",
                       "f2cc08ca1d0f8e1e88d9a1b134a0240a172b9b4f"],
    "all_to_all": ["6cb71d4fca0d894a3eca7dbf122a2998a53555d3",
                   "7c68529da149714edf64d1efa4532b57c4acb541",
                   "bf98464e9362a59bc5f6e304de89acba04230e16",
                   "8ecd151496caf3ff5e40067d8a72e01ade5461f8",
                   "342ad486cb3f5b81e4edea30094481ca80ff668c",
                   "c809ec72297f1838987653bd3526184810621743",
                   "079661f4c81a5a8b35fba9d84661ab9144cfb5e8",
                   "3b4f1f9d68d23ac69ffb7ccb3b0b0d237138868b"],
}


def blob_id(data: bytes) -> str:
    """``git hash-object``: sha1 of ``b"blob <len>\\0" + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module")
def mb(tmp_path_factory):
    """Our own writer's 8-NPU 1 MB microbenchmarks: op -> prefix."""
    root = tmp_path_factory.mktemp("microbench")
    out = {}
    for op in OPS:
        write_microbenchmark(root / op / op, op, 8, MB)
        out[op] = str(root / op / op)
    return out


@pytest.mark.parametrize("op", OPS)
def test_our_writer_is_byte_identical_to_astra_sims_shipped_files(mb, op):
    for i, want in enumerate(SHIPPED_BLOBS[op]):
        with open(f"{mb[op]}.{i}.et", "rb") as f:
            assert blob_id(f.read()) == want, f"{op}.{i}.et"


# ---------------------------------------------------------------------------- hand formulas
E = 10                                  # endpoint-delay, ns
LAT = 500.0                             # ns per hop
B = 50.0 * 2**30 / 1e9                  # 50 GB/s in bytes per ns: GB = 2^30 B, s = 1e9 ns


def R(m, lmbw=50):
    """Local reduction: write + read + read, each int(m / (lmbw * 1e9) * 1e9) ns (GB = 1e9)."""
    return 3 * int(m / (lmbw * 1e9) * 1e9)


def T(m, hops, aware):
    """One message: unaware int(hops*lat + m/B); aware (store-and-forward) hops*int(lat + m/B)."""
    return hops * int(LAT + m / B) if aware else int(hops * LAT + m / B)


def ring_phase(op, n, D, t_of, e=E, r=R):
    """ASTRA-sim's ring phase, lock-step (sim/astra/algorithms/ring.py)."""
    m = D if op == "all_gather" else D // n
    t = t_of(m)
    if op == "all_reduce":
        return e + 2 * (n - 1) * (t + e) + (n - 1) * r(m)
    if op == "reduce_scatter":
        return e + (n - 1) * (t + e + r(m))
    if op == "all_gather":
        return e + (n - 1) * (t + e)
    return e + n * (n - 1) // 2 * (t + e)            # ring "all-to-all": n(n-1)/2 messages


def run(tmp_path, prefix, topo="Ring", npus=(8,), bw=(50,), lat=(500,),
        backend="congestion-unaware", impl="ring", **sys_keys):
    net = write_network(tmp_path / "net.yml", [topo] if isinstance(topo, str) else topo, npus,
                        bw, lat)
    sysj = write_system(tmp_path / "sys.json", impl, **sys_keys)
    return list(run_astra(prefix, sysj, net, None, backend).finish_ns)


@pytest.mark.parametrize("backend", ["congestion-unaware", "congestion-aware"])
@pytest.mark.parametrize("chunks", [1, 4])
@pytest.mark.parametrize("topo,hops", [("Ring", 1), ("Switch", 2)])
@pytest.mark.parametrize("op", OPS)
def test_ring_algorithm_matches_the_hand_formula(tmp_path, mb, op, topo, hops, chunks, backend):
    # chunks run one after the other (active-chunks-per-dimension 1): total = chunks x phase
    aware = backend == "congestion-aware"
    want = chunks * ring_phase(op, 8, MB // chunks, lambda m: T(m, hops, aware))
    got = run(tmp_path, mb[op], topo, backend=backend, preferred_dataset_splits=chunks)
    assert got == [want] * 8


def test_hand_values_of_semantics_md_section_12(tmp_path, mb):
    # D1-D3, each also a row of reference.csv
    assert ring_phase("all_reduce", 8, MB // 4, lambda m: T(m, 1, False)) * 4 == 117780
    assert ring_phase("all_reduce", 8, MB, lambda m: T(m, 1, False)) == 96365
    assert ring_phase("all_reduce", 8, MB, lambda m: T(m, 2, False)) == 103365
    assert ring_phase("all_reduce", 8, MB, lambda m: T(m, 2, True)) == 137539
    assert ring_phase("all_gather", 8, MB, lambda m: T(m, 1, False)) == 140297
    assert ring_phase("reduce_scatter", 8, MB, lambda m: T(m, 1, False)) == 75708
    assert ring_phase("all_to_all", 8, MB, lambda m: T(m, 1, False)) == 82638


@pytest.mark.parametrize("backend", ["congestion-unaware", "congestion-aware"])
@pytest.mark.parametrize("op", OPS)
def test_direct_on_fully_connected(tmp_path, mb, op, backend):
    # all n-1 messages leave together on dedicated links (sim/astra/algorithms/direct.py)
    m = MB if op == "all_gather" else MB // 8
    t = T(m, 1, False)
    want = {"all_reduce": 3 * E + 2 * t + R(m), "reduce_scatter": 2 * E + t + R(m),
            "all_gather": 2 * E + t, "all_to_all": 2 * E + t}[op]
    got = run(tmp_path, mb[op], "FullyConnected", backend=backend, impl="direct",
              preferred_dataset_splits=1)
    assert got == [want] * 8
    assert {"all_reduce": 13775, "reduce_scatter": 10824, "all_gather": 20051,
            "all_to_all": 2961}[op] == want


def test_direct_all_to_all_on_a_switch_congestion_aware(tmp_path, mb):
    # D4: each NPU's 7 messages leave at E on its one uplink, int(m/B) apart; the last reaches
    # the switch after another int(lat + m/B), its (uncontended) downlink the same again, + E
    m = MB // 8
    want = E + 6 * int(m / B) + 2 * int(LAT + m / B) + E
    assert want == 20548
    got = run(tmp_path, mb["all_to_all"], "Switch", backend="congestion-aware", impl="direct",
              preferred_dataset_splits=1)
    assert got == [want] * 8


@pytest.mark.parametrize("topo", ["FullyConnected", "Ring"])
def test_halving_doubling_all_reduce(tmp_path, mb, topo):
    # D6: (2k+1)E + 2 sum_j T(D/2^j, offset 2^(j-1)) + sum_{j>=2} R(D/2^j), k = 3
    def hops(o):
        return 1 if topo == "FullyConnected" else min(o, 8 - o)
    k = 3
    ts = sum(T(MB >> j, hops(1 << (j - 1)), False) for j in range(1, k + 1))
    want = (2 * k + 1) * E + 2 * ts + sum(R(MB >> j) for j in range(2, k + 1))
    assert want == {"FullyConnected": 60835, "Ring": 64835}[topo]
    got = run(tmp_path, mb["all_reduce"], topo, impl="halvingDoubling", preferred_dataset_splits=1)
    assert got == [want] * 8


def test_double_binary_tree_finishes_root_first(tmp_path, mb):
    # D8, tree "max" on 8 NPUs: root 7 -> 3 -> {1, 5} -> leaves {0, 2, 4, 6}; every message
    # carries the full D; intermediate nodes and the root reduce (E + R(D)) what they receive
    t, er = T(MB, 1, False), E + R(MB)
    root = E + t + er + t + er + t + er
    mid = root + t + er
    level1 = mid + t + er
    leaf = level1 + t + E
    got = run(tmp_path, mb["all_reduce"], "FullyConnected", impl="doubleBinaryTree",
              preferred_dataset_splits=1)
    assert got == [leaf, level1, leaf, mid, leaf, level1, leaf, root]
    assert got == [434821, 414780, 434821, 331826, 434821, 414780, 434821, 248872]


def test_two_dimensions_local_bw_aware_and_baseline(tmp_path, mb):
    # D7, [Ring 4, Switch 2]: localBWAware = RS(dim0) + AR(dim1) + AG(dim0), each phase fed
    # the previous one's output; baseline = AR(dim0) + AR(dim1) on the full chunk
    def t_ring(m):
        return T(m, 1, False)

    def t_switch(m):
        return T(m, 2, False)
    rs0 = ring_phase("reduce_scatter", 4, MB, t_ring)          # out: MB / 4 per NPU
    ar1 = ring_phase("all_reduce", 2, MB // 4, t_switch)       # out: the same MB / 4
    ag0 = ring_phase("all_gather", 4, MB // 4, t_ring)         # messages of MB / 4
    kw = dict(topo=("Ring", "Switch"), npus=(4, 2), bw=(50, 50), lat=(500, 500),
              impl=("ring", "ring"), preferred_dataset_splits=1)
    assert run(tmp_path, mb["all_reduce"], **kw) == [rs0 + ar1 + ag0] * 8 == [94325] * 8
    base = ring_phase("all_reduce", 4, MB, t_ring) + ring_phase("all_reduce", 2, MB, t_switch)
    assert run(tmp_path, mb["all_reduce"], collective_optimization="baseline", **kw) == \
        [base] * 8 == [132555] * 8


@pytest.mark.parametrize("delay,lmbw", [(100, 1600), (1000, 10), (None, None)])
def test_endpoint_delay_and_local_memory_bandwidth(tmp_path, mb, delay, lmbw):
    # D9: absent endpoint-delay = 10; absent local-mem-bw = no reduction cost
    e = 10 if delay is None else delay

    def r(m):
        return 0 if lmbw is None else R(m, lmbw)
    want = 4 * ring_phase("all_reduce", 8, MB // 4, lambda m: T(m, 1, False), e, r)
    got = run(tmp_path, mb["all_reduce"], endpoint_delay=delay, local_mem_bw=lmbw)
    assert got == [want] * 8


@pytest.mark.parametrize("chunks,active", [(8, 8), (4, 2), (4, 4)])
def test_active_chunks_run_in_rounds_without_contention(tmp_path, mb, chunks, active):
    # congestion-unaware: ceil(chunks / active) rounds of one chunk's phase (D10)
    want = -(-chunks // active) * ring_phase("all_reduce", 8, MB // chunks,
                                             lambda m: T(m, 1, False))
    got = run(tmp_path, mb["all_reduce"], preferred_dataset_splits=chunks,
              active_chunks_per_dimension=active)
    assert got == [want] * 8


# No closed form: chunks or messages contending for links (values from reference.csv, measured
# with ASTRA-sim 518bd51's AstraSim_Analytical_Congestion_Aware).
@pytest.mark.parametrize("op,topo,impl,chunks,active,want", [
    ("all_reduce", "Ring", "ring", 4, 4, 39195),            # Dactive_9a1f54596c (29445 unaware)
    ("all_reduce", "Ring", "direct", 1, 1, 53331),          # A1d_caef77fbd7
    ("all_reduce", "Switch", "direct", 1, 1, 41626),        # A1d_0fe4b146c0
    ("all_gather", "Ring", "direct", 1, 1, 196330),         # A1d_372ad4aec4
    ("reduce_scatter", "Switch", "direct", 1, 1, 28411),    # A1d_ae19ec1b1b
    ("all_to_all", "Ring", "direct", 1, 1, 25430),          # A1d_489aea57ea
])
def test_congestion_aware_contention_matches_astra_sim(tmp_path, mb, op, topo, impl, chunks,
                                                      active, want):
    got = run(tmp_path, mb[op], topo, backend="congestion-aware", impl=impl,
              preferred_dataset_splits=chunks, active_chunks_per_dimension=active)
    assert got == [want] * 8


def test_ring_ring_all_reduce_4_chunks_pipelines_through_two_dimensions(tmp_path, mb):
    # D7, 4 chunks: queue 0 holds RS0 and AG0, queue 1 AR1; LIFO chunk order gives 88760
    got = run(tmp_path, mb["all_reduce"], ("Ring", "Switch"), (4, 2), (50, 50), (500, 500),
              impl=("ring", "ring"))
    assert got == [88760] * 8

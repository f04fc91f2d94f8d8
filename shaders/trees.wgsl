// Pixel trees (src/model/pixel.rs): the raw score (log-odds) of every feature row, one thread
// per row, the trees summed in order onto the base as the CPU twin PixelTrees::score does.
// A node is (feature, split bits, left, right); a leaf has feature TREE_LEAF and its value in
// the split bits. Children always come after their parent (checked when a model is read).

@group(0) @binding(0) var<uniform> tp: TreeParams;
@group(0) @binding(1) var<storage, read> tree_rows: array<f32>;
@group(0) @binding(2) var<storage, read> tree_nodes: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> tree_roots: array<u32>;
@group(0) @binding(4) var<storage, read_write> tree_score: array<f32>;

@compute @workgroup_size(64)
fn tree_scores(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= tp.rows) {
        return;
    }
    let off = i * tp.features;
    var s = tp.base;
    for (var t = 0u; t < tp.trees; t++) {
        var n = tree_nodes[tree_roots[t]];
        loop {
            if (n.x == TREE_LEAF) {
                break;
            }
            if (tree_rows[off + n.x] <= bitcast<f32>(n.y)) {
                n = tree_nodes[n.z];
            } else {
                n = tree_nodes[n.w];
            }
        }
        s += bitcast<f32>(n.y);
    }
    tree_score[i] = s;
}

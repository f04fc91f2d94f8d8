//! The compiled compute pipelines, one per WGSL entry point, and a dispatch helper that binds
//! the named bindings of group 0.

/// Pipelines for every entry point of `shaders/*.wgsl`.
pub(super) struct Kernels {
    pub normalize: wgpu::ComputePipeline,
    pub evidence: wgpu::ComputePipeline,
    pub visible_max: wgpu::ComputePipeline,
    pub erode_line: wgpu::ComputePipeline,
    pub dilate_line: wgpu::ComputePipeline,
    pub accumulate: wgpu::ComputePipeline,
    pub mbi_change: wgpu::ComputePipeline,
    pub threshold: wgpu::ComputePipeline,
    pub erode: wgpu::ComputePipeline,
    pub dilate: wgpu::ComputePipeline,
    pub erode_line_mask: wgpu::ComputePipeline,
    pub dilate_line_mask: wgpu::ComputePipeline,
    pub thin_seeds: wgpu::ComputePipeline,
    pub or_into: wgpu::ComputePipeline,
    pub change_class: wgpu::ComputePipeline,
    pub class_majority: wgpu::ComputePipeline,
    pub rows: wgpu::ComputePipeline,
    pub conv2d: wgpu::ComputePipeline,
    pub tree_scores: wgpu::ComputePipeline,
}

/// Functions every shader shares, prepended to each after the prelude.
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// The declarations of the kernel contract ([`crate::change::contract::wgsl_prelude`]),
/// written once per process.
pub fn prelude() -> &'static str {
    static PRELUDE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PRELUDE.get_or_init(crate::change::contract::wgsl_prelude)
}

/// The source a shader is compiled from: the prelude, the shared functions, then its own.
pub fn full_source(src: &str) -> String {
    format!("{}\n{COMMON}\n{src}", prelude())
}

/// The WGSL sources, compiled into the binary.
pub const SHADERS: [(&str, &str); 7] = [
    ("normalize", include_str!("../../shaders/normalize.wgsl")),
    ("spectral", include_str!("../../shaders/spectral.wgsl")),
    ("mbi", include_str!("../../shaders/mbi.wgsl")),
    ("threshold", include_str!("../../shaders/threshold.wgsl")),
    ("morphology", include_str!("../../shaders/morphology.wgsl")),
    ("conv", include_str!("../../shaders/conv.wgsl")),
    ("trees", include_str!("../../shaders/trees.wgsl")),
];

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let modules: Vec<wgpu::ShaderModule> = SHADERS
            .iter()
            .map(|(name, src)| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(full_source(src).into()),
                })
            })
            .collect();
        let pipe = |m: usize, entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &modules[m],
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Kernels {
            normalize: pipe(0, "normalize"),
            evidence: pipe(1, "evidence"),
            visible_max: pipe(1, "visible_max"),
            erode_line: pipe(2, "erode_line"),
            dilate_line: pipe(2, "dilate_line"),
            accumulate: pipe(2, "accumulate"),
            mbi_change: pipe(2, "mbi_change"),
            threshold: pipe(3, "threshold"),
            erode: pipe(4, "erode"),
            dilate: pipe(4, "dilate"),
            erode_line_mask: pipe(4, "erode_line_mask"),
            dilate_line_mask: pipe(4, "dilate_line_mask"),
            thin_seeds: pipe(4, "thin_seeds"),
            or_into: pipe(4, "or_into"),
            change_class: pipe(1, "change_class"),
            class_majority: pipe(4, "class_majority"),
            rows: pipe(4, "rows"),
            conv2d: pipe(5, "conv2d"),
            tree_scores: pipe(6, "tree_scores"),
        }
    }

    /// The pipeline of WGSL entry point `entry`.
    pub fn by_entry(&self, entry: &str) -> Option<&wgpu::ComputePipeline> {
        Some(match entry {
            "normalize" => &self.normalize,
            "evidence" => &self.evidence,
            "visible_max" => &self.visible_max,
            "erode_line" => &self.erode_line,
            "dilate_line" => &self.dilate_line,
            "accumulate" => &self.accumulate,
            "mbi_change" => &self.mbi_change,
            "threshold" => &self.threshold,
            "erode" => &self.erode,
            "dilate" => &self.dilate,
            "erode_line_mask" => &self.erode_line_mask,
            "dilate_line_mask" => &self.dilate_line_mask,
            "thin_seeds" => &self.thin_seeds,
            "or_into" => &self.or_into,
            "change_class" => &self.change_class,
            "class_majority" => &self.class_majority,
            "rows" => &self.rows,
            "conv2d" => &self.conv2d,
            "tree_scores" => &self.tree_scores,
            _ => return None,
        })
    }

    /// Record one dispatch of `pipeline` over `groups` workgroups with `bindings` in group 0.
    pub fn dispatch(
        &self,
        device: &wgpu::Device,
        enc: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        bindings: &[(u32, &wgpu::Buffer)],
        groups: (u32, u32),
    ) {
        let entries: Vec<wgpu::BindGroupEntry> = bindings
            .iter()
            .map(|(binding, buf)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buf.as_entire_binding(),
            })
            .collect();
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, 1);
    }
}

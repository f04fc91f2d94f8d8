//! The only wgpu user: one [`GpuContext`] (device, queue, compiled pipelines) that runs the
//! change kernels of `shaders/` on a tile and reads the results back.
//!
//! The dispatch order mirrors [`crate::change::cpu::run_tile`] step for step, so the two
//! backends produce the same mask. Errors (no adapter, validation, out of memory) come back
//! as [`Error::Gpu`]; the CLI then warns and falls back to the CPU.

mod kernels;

/// The WGSL sources compiled into the binary, by name, each as the device compiles it (the
/// contract's prelude and the shared functions first), for tests and tools.
pub fn shader_sources() -> impl Iterator<Item = (&'static str, String)> {
    kernels::SHADERS
        .iter()
        .map(|(name, src)| (*name, kernels::full_source(src)))
}

/// The prelude every shader is compiled with ([`crate::change::contract::wgsl_prelude`]).
pub fn shader_prelude() -> &'static str {
    kernels::prelude()
}

use crate::change::contract::{ConvParams, TreeParams, Uniform};
use crate::change::{KernelParams, Plan, TileInput, TileResult};
use crate::error::{Error, Result};
use kernels::Kernels;
use wgpu::util::DeviceExt;

/// Which adapters [`GpuContext::new`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    /// Any adapter, software rasterisers (Mesa lavapipe) included: for tests and `--backend gpu`.
    Any,
    /// Hardware only: `--backend auto` should not pick a software Vulkan over the rayon path.
    HardwareOnly,
}

/// A wgpu device with the change pipelines compiled.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    kernels: Kernels,
}

/// Workgroups for a `width` x `height` dispatch with 16 x 16 workgroups.
fn groups(width: usize, height: usize) -> (u32, u32) {
    (width.div_ceil(16) as u32, height.div_ceil(16) as u32)
}

impl GpuContext {
    /// Open the best adapter wgpu finds (Vulkan, Metal or DX12) and compile the kernels.
    ///
    /// # Errors
    /// [`Error::Gpu`] when there is no (suitable) adapter or the device cannot be created.
    pub fn new(choice: AdapterChoice) -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::from_env()
            .unwrap_or(wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12);
        let instance = wgpu::Instance::new(desc);
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("no GPU adapter: {e}")))?;
        let info = adapter.get_info();
        if choice == AdapterChoice::HardwareOnly && info.device_type == wgpu::DeviceType::Cpu {
            return Err(Error::Gpu(format!(
                "only a software adapter is present ({}), slower than the CPU path",
                info.name
            )));
        }
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tuban"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("{}: cannot open device: {e}", info.name)))?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Kernels::new(&device);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("shader compilation failed: {e}")));
        }
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            kernels,
        })
    }

    /// The adapter's name and backend, e.g. "NVIDIA H200 (Vulkan)".
    pub fn adapter_name(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// True when the adapter is a software rasteriser (lavapipe, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Largest tile side (pixels, halo included) whose band buffers fit the device limits.
    pub fn max_tile_px(&self, bands: usize) -> usize {
        ((self.max_buffer_bytes() as f64 / (4.0 * bands.max(1) as f64)).sqrt()) as usize
    }

    /// The largest buffer a kernel can bind (bytes): the smaller of the device's two limits.
    pub fn max_buffer_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    fn storage(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            })
    }

    fn scratch(&self, label: &str, bytes: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn uniform(&self, p: &impl Uniform) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::bytes_of(p),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// Record `pipeline` (a mask kernel: params at binding 0, source at 1, result at 2) over a
    /// copy of `mask`, writing `mask`, with half-width `half`; the buffers it needs until the
    /// submission go to `keep`.
    fn over_mask_copy(
        &self,
        enc: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        p: &KernelParams,
        half: u32,
        mask: &wgpu::Buffer,
        keep: &mut Vec<wgpu::Buffer>,
    ) {
        let bytes = p.pixels() * 4;
        let params = self.uniform(&KernelParams { half, ..*p });
        let src = self.scratch("mask_copy", bytes);
        enc.copy_buffer_to_buffer(mask, 0, &src, 0, Some(bytes as u64));
        let g = groups(p.width as usize, p.height as usize);
        self.kernels.dispatch(
            &self.device,
            enc,
            pipeline,
            &[(0, &params), (1, &src), (2, mask)],
            g,
        );
        keep.extend([params, src]);
    }

    /// Run the kernels on one tile (the GPU twin of [`crate::change::cpu::run_tile`]).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the tile does not fit the device or the device fails.
    pub fn run_tile(&self, plan: &Plan, input: &TileInput, with_mask: bool) -> Result<TileResult> {
        self.run_tile_on(plan, input, None, with_mask)
    }

    /// [`GpuContext::run_tile`] with the evidence given (a model's) instead of computed.
    ///
    /// # Errors
    /// As [`GpuContext::run_tile`].
    pub fn run_tile_on(
        &self,
        plan: &Plan,
        input: &TileInput,
        evidence: Option<&[f32]>,
        with_mask: bool,
    ) -> Result<TileResult> {
        let n = input.pixels();
        let band_bytes = (n * input.bands * 4) as u64;
        let max = self.max_buffer_bytes();
        if band_bytes > max {
            return Err(Error::Gpu(format!(
                "a {}x{} tile of {} bands needs {band_bytes} B buffers, the device allows {max}; use a smaller --tile",
                input.width, input.height, input.bands
            )));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = self.run_tile_inner(plan, input, evidence, with_mask);
        let oom_err = pollster::block_on(oom.pop());
        let val_err = pollster::block_on(scope.pop());
        if let Some(e) = oom_err.or(val_err) {
            return Err(Error::Gpu(e.to_string()));
        }
        result
    }

    fn run_tile_inner(
        &self,
        plan: &Plan,
        input: &TileInput,
        given: Option<&[f32]>,
        with_mask: bool,
    ) -> Result<TileResult> {
        let (w, h, n) = (input.width, input.height, input.pixels());
        let p = plan.params(w, h);
        let k = &self.kernels;
        let params = self.uniform(&p);
        let coeffs = self.storage("coeffs", bytemuck::cast_slice(&plan.coeffs));
        let before = self.storage("before", bytemuck::cast_slice(&input.before));
        let after = self.storage("after", bytemuck::cast_slice(&input.after));
        let valid = self.storage("valid", bytemuck::cast_slice(&input.valid));
        let evidence = match given {
            Some(e) => self.storage("evidence", bytemuck::cast_slice(e)),
            None => self.scratch("evidence", n * 4),
        };
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tile"),
            });
        let g = groups(w, h);
        if plan.config.normalize {
            k.dispatch(
                &self.device,
                &mut enc,
                &k.normalize,
                &[(0, &params), (1, &coeffs), (2, &after)],
                g,
            );
        }
        // Kept alive until the submission below.
        let mut keep = Vec::new();
        if given.is_some() {
            // The evidence is already in its buffer.
        } else if plan.config.evidence.is_morphological() {
            let base_b = self.scratch("base_before", n * 4);
            let base_a = self.scratch("base_after", n * 4);
            k.dispatch(
                &self.device,
                &mut enc,
                &k.visible_max,
                &[
                    (0, &params),
                    (1, &before),
                    (2, &after),
                    (5, &base_b),
                    (6, &base_a),
                ],
                g,
            );
            let acc_b = self.mbi_sum(&mut enc, plan, &p, &base_b, &valid, &mut keep);
            let acc_a = self.mbi_sum(&mut enc, plan, &p, &base_a, &valid, &mut keep);
            k.dispatch(
                &self.device,
                &mut enc,
                &k.mbi_change,
                &[
                    (0, &params),
                    (2, &valid),
                    (7, &acc_b),
                    (8, &acc_a),
                    (9, &evidence),
                ],
                g,
            );
            keep.extend([base_b, base_a, acc_b, acc_a]);
        } else {
            k.dispatch(
                &self.device,
                &mut enc,
                &k.evidence,
                &[
                    (0, &params),
                    (1, &before),
                    (2, &after),
                    (3, &valid),
                    (4, &evidence),
                ],
                g,
            );
        }
        let mask = self.scratch("mask", n * 4);
        let near = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("near_count"),
                contents: bytemuck::bytes_of(&0u32),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            });
        if with_mask {
            k.dispatch(
                &self.device,
                &mut enc,
                &k.threshold,
                &[
                    (0, &params),
                    (1, &evidence),
                    (2, &valid),
                    (3, &mask),
                    (4, &near),
                ],
                g,
            );
            self.open_close(&mut enc, plan, &p, &mask, &mut keep);
            self.join_lines(&mut enc, plan, &p, &mask, &mut keep);
            k.dispatch(
                &self.device,
                &mut enc,
                &k.change_class,
                &[
                    (0, &params),
                    (1, &before),
                    (2, &after),
                    (4, &evidence),
                    (7, &mask),
                ],
                g,
            );
            if plan.config.evidence == crate::change::EvidenceKind::Conversion {
                let vote = crate::change::contract::CLASS_VOTE_PX;
                self.over_mask_copy(&mut enc, &k.class_majority, &p, vote, &mask, &mut keep);
                if plan.config.rows_half_px > 0 {
                    let half = plan.config.rows_half_px;
                    self.over_mask_copy(&mut enc, &k.rows, &p, half, &mask, &mut keep);
                }
            }
        }
        let ev = self.read_back(enc, &evidence, &mask, &near, n, with_mask)?;
        drop(keep);
        Ok(ev)
    }

    /// Dispatches for the building-index sum of one brightness plane; returns the sum buffer.
    fn mbi_sum(
        &self,
        enc: &mut wgpu::CommandEncoder,
        plan: &Plan,
        p: &KernelParams,
        base: &wgpu::Buffer,
        valid: &wgpu::Buffer,
        keep: &mut Vec<wgpu::Buffer>,
    ) -> wgpu::Buffer {
        let n = p.pixels();
        let k = &self.kernels;
        let g = groups(p.width as usize, p.height as usize);
        let acc = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("mbi_acc"),
                contents: bytemuck::cast_slice(&vec![0.0f32; n]),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            });
        let tmp = self.scratch("mbi_tmp", n * 4);
        let small = self.scratch("mbi_small", n * 4);
        let large = self.scratch("mbi_large", n * 4);
        let (hs, hl) = plan.config.mbi_half_px;
        for dir in 0..4 {
            for (half, out) in [(hs, &small), (hl, &large)] {
                let pu = self.uniform(&KernelParams { dir, half, ..*p });
                k.dispatch(
                    &self.device,
                    enc,
                    &k.erode_line,
                    &[(0, &pu), (1, base), (2, valid), (3, &tmp)],
                    g,
                );
                k.dispatch(
                    &self.device,
                    enc,
                    &k.dilate_line,
                    &[(0, &pu), (1, &tmp), (2, valid), (3, out)],
                    g,
                );
                keep.push(pu);
            }
            let pu = self.uniform(p);
            k.dispatch(
                &self.device,
                enc,
                &k.accumulate,
                &[(0, &pu), (4, &small), (5, &large), (6, &acc)],
                g,
            );
            keep.push(pu);
        }
        keep.extend([tmp, small, large]);
        acc
    }

    /// Opening then closing of the mask buffer, in place (ping-pong through a scratch buffer).
    fn open_close(
        &self,
        enc: &mut wgpu::CommandEncoder,
        plan: &Plan,
        p: &KernelParams,
        mask: &wgpu::Buffer,
        keep: &mut Vec<wgpu::Buffer>,
    ) {
        let k = &self.kernels;
        let g = groups(p.width as usize, p.height as usize);
        let tmp = self.scratch("mask_tmp", p.pixels() * 4);
        let (o, c) = (plan.config.open_px, plan.config.close_px);
        for (r, erode) in [(o, true), (o, false), (c, false), (c, true)] {
            if r == 0 {
                continue;
            }
            let pu = self.uniform(&KernelParams { half: r, ..*p });
            let pipe = if erode { &k.erode } else { &k.dilate };
            k.dispatch(
                &self.device,
                enc,
                pipe,
                &[(0, &pu), (1, mask), (2, &tmp)],
                g,
            );
            enc.copy_buffer_to_buffer(&tmp, 0, mask, 0, Some((p.pixels() * 4) as u64));
            keep.push(pu);
        }
        keep.push(tmp);
    }

    /// Joining of linear fragments on the mask buffer, in place: the twin of
    /// [`crate::change::cpu::morphology::join_lines`], step for step.
    fn join_lines(
        &self,
        enc: &mut wgpu::CommandEncoder,
        plan: &Plan,
        p: &KernelParams,
        mask: &wgpu::Buffer,
        keep: &mut Vec<wgpu::Buffer>,
    ) {
        let (half, wide) = (plan.config.join_half_px, plan.config.join_wide_px);
        if half == 0 {
            return;
        }
        let k = &self.kernels;
        let g = groups(p.width as usize, p.height as usize);
        let bytes = p.pixels() * 4;
        let (a, b, seeds) = (
            self.scratch("join_a", bytes),
            self.scratch("join_b", bytes),
            self.scratch("join_seeds", bytes),
        );
        let mut pass = |enc: &mut wgpu::CommandEncoder,
                        dir: u32,
                        half: u32,
                        erode: bool,
                        src: &wgpu::Buffer,
                        dst: &wgpu::Buffer| {
            let pu = self.uniform(&KernelParams { dir, half, ..*p });
            let pipe = if erode {
                &k.erode_line_mask
            } else {
                &k.dilate_line_mask
            };
            k.dispatch(&self.device, enc, pipe, &[(0, &pu), (1, src), (2, dst)], g);
            keep.push(pu);
        };
        pass(enc, 0, wide, true, mask, &a);
        pass(enc, 4, wide, true, &a, &b);
        pass(enc, 0, wide, false, &b, &a);
        pass(enc, 4, wide, false, &a, &b);
        let pu = self.uniform(p);
        k.dispatch(
            &self.device,
            enc,
            &k.thin_seeds,
            &[(0, &pu), (1, mask), (3, &b), (2, &seeds)],
            g,
        );
        for dir in 0..8 {
            pass(enc, dir, half, true, &seeds, &a);
            pass(enc, dir, half, false, &a, &b);
            pass(enc, dir, half, false, &b, &a);
            pass(enc, dir, half, true, &a, &b);
            k.dispatch(
                &self.device,
                enc,
                &k.or_into,
                &[(0, &pu), (1, &b), (2, mask)],
                g,
            );
        }
        keep.extend([pu, a, b, seeds]);
    }

    /// Copy results into mappable buffers, submit, wait, and unpack.
    fn read_back(
        &self,
        enc: wgpu::CommandEncoder,
        evidence: &wgpu::Buffer,
        mask: &wgpu::Buffer,
        near: &wgpu::Buffer,
        n: usize,
        with_mask: bool,
    ) -> Result<TileResult> {
        let bytes = (n * 4) as u64;
        let words = if with_mask {
            self.download(enc, &[(evidence, bytes), (mask, bytes), (near, 4)])?
        } else {
            self.download(enc, &[(evidence, bytes)])?
        };
        let evidence = words[..n].iter().map(|&b| f32::from_bits(b)).collect();
        let (mask, near_threshold) = if with_mask {
            (words[n..2 * n].to_vec(), words[2 * n] as u64)
        } else {
            (Vec::new(), 0)
        };
        Ok(TileResult {
            evidence,
            mask,
            near_threshold,
            timings: Default::default(),
        })
    }

    /// One dispatch of the tile kernel `entry` over `p.width` x `p.height` pixels, with `p` at
    /// binding 0 and `buffers` (binding, initial contents) as storage buffers; returns every
    /// buffer's contents after the dispatch, in the order given. For the per-kernel tests
    /// against the CPU twins, and for tools.
    ///
    /// # Errors
    /// [`Error::Gpu`] for an unknown entry point, a binding the kernel does not declare, or a
    /// device failure.
    pub fn run_kernel(
        &self,
        entry: &str,
        p: &KernelParams,
        buffers: &[(u32, &[u8])],
    ) -> Result<Vec<Vec<u8>>> {
        let pipeline = self
            .kernels
            .by_entry(entry)
            .ok_or_else(|| Error::Gpu(format!("no kernel named {entry}")))?;
        let bufs: Vec<wgpu::Buffer> = buffers
            .iter()
            .map(|(_, d)| self.storage(entry, d))
            .collect();
        let bindings: Vec<(u32, &wgpu::Buffer)> =
            buffers.iter().map(|(b, _)| *b).zip(&bufs).collect();
        let parts: Vec<(&wgpu::Buffer, u64)> = bufs
            .iter()
            .zip(buffers)
            .map(|(b, (_, d))| (b, d.len() as u64))
            .collect();
        let g = groups(p.width as usize, p.height as usize);
        let words = self
            .submit_one(entry, pipeline, p, &bindings, g, &parts)
            .map_err(|e| match e {
                Error::Gpu(m) => Error::Gpu(format!("{entry}: {m}")),
                other => other,
            })?;
        let bytes: Vec<u8> = bytemuck::cast_slice(&words).to_vec();
        let mut at = 0;
        Ok(buffers
            .iter()
            .map(|(_, d)| {
                at += d.len();
                bytes[at - d.len()..at].to_vec()
            })
            .collect())
    }

    /// Record copies of the first `bytes` of each buffer, one after the other, into one
    /// mappable buffer; submit, wait, and return its words.
    fn download(
        &self,
        mut enc: wgpu::CommandEncoder,
        parts: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<u32>> {
        let total: u64 = parts.iter().map(|(_, b)| b).sum();
        let dl = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: total.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut at = 0;
        for (buf, bytes) in parts {
            enc.copy_buffer_to_buffer(buf, 0, &dl, at, Some(*bytes));
            at += bytes;
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        dl.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("device lost while waiting: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("readback callback never ran".into()))?
            .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
        let view = dl
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("readback mapping failed: {e}")))?;
        let words = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        dl.unmap();
        Ok(words)
    }

    /// One dispatch of `pipeline` over `groups` workgroups with `params` as the uniform at
    /// binding 0 and `bindings` as storage; returns the first bytes of each buffer in `read`, one
    /// after the other, as words. A validation error of the dispatch is an [`Error::Gpu`].
    fn submit_one(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        params: &impl Uniform,
        bindings: &[(u32, &wgpu::Buffer)],
        groups: (u32, u32),
        read: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<u32>> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let uniform = self.uniform(params);
        let mut all = vec![(0, &uniform)];
        all.extend_from_slice(bindings);
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        self.kernels
            .dispatch(&self.device, &mut enc, pipeline, &all, groups);
        let words = self.download(enc, read);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(e.to_string()));
        }
        words
    }

    /// One dispatch of `pipeline` over `n` threads (64 a workgroup, rows of at most 65,535
    /// workgroups) with `params` as the uniform at binding 0, `inputs` as storage buffers at
    /// bindings 1.. and an output of `n` f32 after them; returns the output.
    ///
    /// # Errors
    /// [`Error::Gpu`] when the device reports a validation error or the readback fails.
    fn one_shot(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        params: &impl Uniform,
        inputs: &[&[u8]],
        n: usize,
    ) -> Result<Vec<f32>> {
        let buffers: Vec<wgpu::Buffer> = inputs.iter().map(|d| self.storage(label, d)).collect();
        let dst = self.scratch(label, n.max(1) * 4);
        let mut bindings: Vec<(u32, &wgpu::Buffer)> = (1..).zip(&buffers).collect();
        bindings.push((inputs.len() as u32 + 1, &dst));
        let groups = n.div_ceil(64).max(1);
        let gx = groups.min(65_535);
        let g = (gx as u32, groups.div_ceil(gx) as u32);
        let read = [(&dst, (n.max(1) * 4) as u64)];
        let mut words = self.submit_one(label, pipeline, params, &bindings, g, &read)?;
        words.truncate(n);
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    /// The raw score of every row of `rows` (`features` values each) under pixel trees
    /// (`nodes` as `[feature, split bits, left, right]`, a leaf's feature `u32::MAX`; `roots`:
    /// each tree's first node; CPU twin: [`crate::model::pixel::PixelTrees`]'s lock-step walk).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the buffers exceed the device or the device fails.
    pub fn tree_scores(
        &self,
        rows: &[f32],
        features: usize,
        nodes: &[[u32; 4]],
        roots: &[u32],
        base: f32,
    ) -> Result<Vec<f32>> {
        let n = rows.len() / features.max(1);
        let max = self.max_buffer_bytes();
        if (rows.len().max(nodes.len() * 4) * 4) as u64 > max {
            return Err(Error::Gpu(format!(
                "{n} feature rows or {} tree nodes need more than the device's {max} B buffers",
                nodes.len()
            )));
        }
        let params = TreeParams {
            rows: n as u32,
            features: features as u32,
            trees: roots.len() as u32,
            base,
        };
        self.one_shot(
            "trees",
            &self.kernels.tree_scores,
            &params,
            &[
                bytemuck::cast_slice(rows),
                bytemuck::cast_slice(nodes),
                bytemuck::cast_slice(roots),
            ],
            n,
        )
    }

    /// One image's 2-d convolution (the model engine's `Conv` on the GPU; CPU twin
    /// [`crate::model::conv::conv_px`]): `x` is `c` x `h` x `w`, `weight` ONNX's
    /// `o` x `c/group` x `kh` x `kw`, `bias` `o` values or empty; returns `o` x oh x ow.
    ///
    /// # Errors
    /// [`Error::Gpu`] when the buffers exceed the device or the device fails.
    pub fn conv2d(
        &self,
        g: &crate::model::conv::ConvGeom,
        (o, group): (usize, usize),
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
    ) -> Result<Vec<f32>> {
        let n = o * g.oh * g.ow;
        let max = self.max_buffer_bytes();
        if (x.len().max(n) * 4) as u64 > max {
            return Err(Error::Gpu(format!(
                "a convolution of {} x {} x {} into {o} channels needs more than the device's {max} B buffers; use a smaller --model-tile",
                g.c, g.h, g.w
            )));
        }
        let params = ConvParams {
            c: g.c as u32,
            h: g.h as u32,
            w: g.w as u32,
            o: o as u32,
            kh: g.kh as u32,
            kw: g.kw as u32,
            sh: g.stride.0 as u32,
            sw: g.stride.1 as u32,
            ph: g.pad.0 as u32,
            pw: g.pad.1 as u32,
            dh: g.dilation.0 as u32,
            dw: g.dilation.1 as u32,
            oh: g.oh as u32,
            ow: g.ow as u32,
            group: group as u32,
            has_bias: u32::from(!bias.is_empty()),
        };
        let bias = if bias.is_empty() { &[0.0f32][..] } else { bias };
        self.one_shot(
            "conv",
            &self.kernels.conv2d,
            &params,
            &[
                bytemuck::cast_slice(x),
                bytemuck::cast_slice(weight),
                bytemuck::cast_slice(bias),
            ],
            n,
        )
    }
}

//! `tuban serve`: the review web app over a ledger and a run's imagery (axum on tokio; the
//! page, its script and Leaflet are compiled into the binary and work offline).
//!
//! - [`scene`]: the map's grid (the imagery's own CRS), the two dates, the survey layers, and
//!   tiles rendered on the fly from the GeoTIFFs (PNG, cached).
//! - [`auth`]: sign-in against the ledger's users, sessions, the per-request check.
//! - [`api`]: the lead list, one lead, verdicts (through the code of `tuban ledger feedback`,
//!   with the version the reviewer saw), photos, the survey layers as GeoJSON.
//!
//! The ledger is one connection behind a mutex: every database call runs on tokio's blocking
//! pool, one at a time (SQLite allows one writer anyway); tiles render on that pool in
//! parallel, each thread with its own GDAL handles.

pub mod api;
mod assets;
pub mod auth;
pub mod scene;

use crate::error::{Error, Result};
use crate::ledger::Ledger;
use axum::Router;
use axum::routing::{get, post};
use scene::Scene;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How `tuban serve` runs.
pub struct ServeOptions {
    /// A ledger file or `postgres://` URL.
    pub ledger: String,
    /// A `tuban run` (or `tuban detect`) output folder; default: the folder of the latest
    /// run dispatched into the ledger.
    pub run: Option<PathBuf>,
    pub addr: SocketAddr,
    /// Where uploaded photos are kept; default `LEDGER.photos/` beside a ledger file.
    pub photos: Option<PathBuf>,
    /// Tile cache size in bytes.
    pub cache_bytes: usize,
}

/// Rendered tiles, least recently made dropped first.
pub struct TileCache {
    map: HashMap<(usize, u32, u32, u32), Arc<Vec<u8>>>,
    order: VecDeque<(usize, u32, u32, u32)>,
    bytes: usize,
    limit: usize,
}

impl TileCache {
    fn new(limit: usize) -> TileCache {
        TileCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            limit,
        }
    }

    fn get(&self, k: &(usize, u32, u32, u32)) -> Option<Arc<Vec<u8>>> {
        self.map.get(k).cloned()
    }

    fn put(&mut self, k: (usize, u32, u32, u32), v: Arc<Vec<u8>>) {
        self.bytes += v.len();
        // Two requests may render the same tile at once: the second replaces the first.
        match self.map.insert(k, v) {
            Some(old) => self.bytes -= old.len(),
            None => self.order.push_back(k),
        }
        while self.bytes > self.limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// The app's state.
pub struct App {
    pub ledger: Mutex<Ledger>,
    pub scene: Option<Scene>,
    pub sessions: Mutex<HashMap<String, auth::Session>>,
    pub photos: PathBuf,
    pub tiles: Mutex<TileCache>,
    /// The ledger's CRS (WKT), when it has leads.
    pub ledger_wkt: Option<String>,
}

fn server_err(addr: SocketAddr, reason: impl std::fmt::Display) -> Error {
    Error::Server {
        addr: addr.to_string(),
        reason: reason.to_string(),
    }
}

/// Open everything and build the app (no socket yet).
///
/// # Errors
/// Whatever opening the ledger, the run folder or its imagery reports.
pub fn build(opts: &ServeOptions) -> Result<(Router, Arc<App>)> {
    let mut ledger = Ledger::open(&opts.ledger, "tuban serve")?;
    let run = match &opts.run {
        Some(r) => Some(r.clone()),
        None => ledger.latest_run_path()?,
    };
    let scene = run.as_deref().map(Scene::discover).transpose()?;
    let photos = match (&opts.photos, crate::ledger::is_url(&opts.ledger)) {
        (Some(p), _) => p.clone(),
        (None, false) => PathBuf::from(format!("{}.photos", opts.ledger)),
        (None, true) => {
            return Err(Error::Ledger {
                path: ledger.path().to_path_buf(),
                reason: "a server ledger keeps no files: say where photos go with --photos DIR"
                    .into(),
            });
        }
    };
    std::fs::create_dir_all(&photos).map_err(|e| Error::write(&photos, e))?;
    let ledger_wkt = ledger.projection()?;
    let app = Arc::new(App {
        ledger: Mutex::new(ledger),
        scene,
        sessions: Mutex::new(HashMap::new()),
        photos,
        tiles: Mutex::new(TileCache::new(opts.cache_bytes)),
        ledger_wkt,
    });
    let router = Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/assets/images/{name}", get(assets::asset))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/scene", get(api::scene))
        .route("/api/leads", get(api::leads))
        .route("/api/outlines", get(api::outlines))
        .route("/api/leads/{jcbh}", get(api::lead))
        .route("/api/leads/{jcbh}/verdict", post(api::verdict))
        .route("/api/leads/{jcbh}/photos/{index}", get(api::photo))
        .route("/api/layers/{name}", get(api::layer))
        .route("/tiles/{date}/{z}/{x}/{file}", get(api::tile))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(app.clone());
    Ok((router, app))
}

/// Run the app until Ctrl-C (or SIGTERM). Prints `listening on http://ADDR/` once the socket
/// is bound (port 0 picks a free port; the line says which).
///
/// # Errors
/// Whatever [`build`] reports, or when the address cannot be bound.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let (router, app) = build(opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| server_err(opts.addr, format!("starting the runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| server_err(opts.addr, format!("cannot listen: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| server_err(opts.addr, e))?;
        let ledger = app
            .ledger
            .lock()
            .map(|l| l.path().display().to_string())
            .unwrap_or_default();
        match &app.scene {
            Some(s) => println!(
                "tuban serve: ledger {ledger}, imagery of {} ({} x {} px, {})",
                s.origin.display(),
                s.grid.width,
                s.grid.height,
                s.grid.crs_name
            ),
            None => println!(
                "tuban serve: ledger {ledger}, no imagery (no run dispatched; pass --run DIR)"
            ),
        }
        println!("listening on http://{addr}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let ctrl_c = tokio::signal::ctrl_c();
                #[cfg(unix)]
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut term) => tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} },
                    // Without a SIGTERM handler, Ctrl-C still stops it.
                    Err(_) => {
                        let _ = ctrl_c.await;
                    }
                }
                #[cfg(not(unix))]
                let _ = ctrl_c.await;
            })
            .await
            .map_err(|e| server_err(addr, e))
    })
}

//! Headless Chromium driven over the DevTools protocol (CDP) through
//! `--remote-debugging-pipe`: Chromium reads commands on fd 3 and writes replies and events on
//! fd 4, each a JSON message ended by a NUL byte. No WebSocket and no crate: two pipes.

use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A browser with one page attached.
pub struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next: u64,
    session: String,
    /// Script errors the page threw (`Runtime.exceptionThrown`), as text.
    pub errors: Vec<String>,
}

/// A pipe whose two ends sit at fd 10 or above, close-on-exec (so that moving them to 3 and 4
/// in the child cannot clobber one another).
fn high_pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: plain POSIX calls on fds this function owns.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        let r = libc::fcntl(fds[0], libc::F_DUPFD_CLOEXEC, 10);
        let w = libc::fcntl(fds[1], libc::F_DUPFD_CLOEXEC, 10);
        libc::close(fds[0]);
        libc::close(fds[1]);
        (r, w)
    }
}

impl Browser {
    /// Start `binary` headless with a window of `width` x `height` and a fresh profile in
    /// `profile`, and attach to a new blank page.
    pub fn launch(binary: &str, profile: &Path, width: u32, height: u32) -> Browser {
        let (cmd_r, cmd_w) = high_pipe(); // we write commands, Chromium reads fd 3
        let (ev_r, ev_w) = high_pipe(); // Chromium writes fd 4, we read
        let mut c = Command::new(binary);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--remote-debugging-pipe",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={width},{height}"),
            "about:blank",
        ])
        .env("HOME", profile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(ev_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("chromium starts");
        // SAFETY: the fds are ours; the child has its own copies.
        let (to, events) = unsafe {
            libc::close(cmd_r);
            libc::close(ev_w);
            (File::from_raw_fd(cmd_w), File::from_raw_fd(ev_r))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(events);
            loop {
                let mut buf = vec![];
                match r.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        buf.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                            && tx.send(v).is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to,
            from: rx,
            next: 0,
            session: String::new(),
            errors: vec![],
        };
        let target = b.call_browser("Target.createTarget", json!({"url": "about:blank"}));
        let id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = b.call_browser(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b.call("DOM.enable", json!({}));
        // The viewport exactly (the window's size includes the browser's own frame).
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if session {
            msg["sessionId"] = Value::from(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("writing to chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from.recv_timeout(left) {
                Ok(v) if v["id"].as_u64() == Some(id) => {
                    if let Some(e) = v.get("error") {
                        panic!("CDP {method}: {e}");
                    }
                    return v["result"].clone();
                }
                Ok(v) => self.event(&v),
                Err(RecvTimeoutError::Timeout) => panic!("CDP {method}: no answer in 60 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("CDP {method}: chromium exited"),
            }
        }
    }

    fn event(&mut self, v: &Value) {
        if v["method"] == "Runtime.exceptionThrown" {
            let d = &v["params"]["exceptionDetails"];
            self.errors.push(format!(
                "{} {}",
                d["text"].as_str().unwrap_or(""),
                d["exception"]["description"].as_str().unwrap_or("")
            ));
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, false)
    }

    /// A command to the page; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, true)
    }

    /// Evaluate `expr` in the page (promises awaited); its value. A script error panics.
    pub fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .unwrap_or_else(|e| panic!("script {expr:?} failed: {e}"))
    }

    /// [`Browser::eval`], a script error returned.
    fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
        );
        match r.get("exceptionDetails") {
            Some(e) => Err(e.to_string()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Wait until `expr` is truthy (checked every 100 ms); its value. A script error counts
    /// as not yet (the page may be between documents, e.g. reloading after a sign-out); it is
    /// named if the wait ends. Panics after `secs`.
    pub fn wait_for(&mut self, expr: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (v, failed) = match self.try_eval(expr) {
                Ok(v) => (v, None),
                Err(e) => (Value::Null, Some(e)),
            };
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {secs} s for {expr:?} (last script error: {failed:?}); page errors: {:?}",
                    self.errors
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Load `url` and wait for the document to be complete.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        std::thread::sleep(Duration::from_millis(200));
        self.wait_for("document.readyState === 'complete'", 30);
    }

    /// Reload the page and wait for it.
    pub fn reload(&mut self) {
        self.call("Page.reload", json!({"ignoreCache": true}));
        std::thread::sleep(Duration::from_millis(200));
        self.wait_for("document.readyState === 'complete'", 30);
    }

    /// The centre of the element `selector` in CSS pixels, scrolled into view first.
    pub fn centre(&mut self, selector: &str) -> (f64, f64) {
        let v = self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            serde_json::to_string(selector).unwrap()
        ));
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64, buttons: u32) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": if kind == "mouseMoved" && buttons == 0 { "none" } else { "left" }, "buttons": buttons, "clickCount": 1}),
        );
    }

    /// A real mouse click on the element `selector`.
    pub fn click(&mut self, selector: &str) {
        let (x, y) = self.centre(selector);
        self.mouse("mouseMoved", x, y, 0);
        self.mouse("mousePressed", x, y, 1);
        self.mouse("mouseReleased", x, y, 0);
    }

    /// Drag with the left button from `a` to `b` in steps (a map pan).
    pub fn drag(&mut self, a: (f64, f64), b: (f64, f64)) {
        self.mouse("mouseMoved", a.0, a.1, 0);
        self.mouse("mousePressed", a.0, a.1, 1);
        for k in 1..=10 {
            let t = f64::from(k) / 10.0;
            self.mouse(
                "mouseMoved",
                a.0 + (b.0 - a.0) * t,
                a.1 + (b.1 - a.1) * t,
                1,
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.mouse("mouseReleased", b.0, b.1, 0);
    }

    /// Type `text` into the focused element.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    /// A key press (e.g. "j").
    pub fn key(&mut self, key: &str) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "text": if kind == "keyDown" { key } else { "" }}),
            );
        }
    }

    /// Put `files` into the file input `selector`.
    pub fn set_files(&mut self, selector: &str, files: &[&Path]) {
        let doc = self.call("DOM.getDocument", json!({"depth": 0}));
        let root = doc["root"]["nodeId"].clone();
        let node = self.call(
            "DOM.querySelector",
            json!({"nodeId": root, "selector": selector}),
        );
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.call(
            "DOM.setFileInputFiles",
            json!({"files": files, "nodeId": node["nodeId"]}),
        );
    }

    /// A PNG screenshot of the viewport, written to `out`.
    pub fn screenshot(&mut self, out: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64");
        std::fs::write(out, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

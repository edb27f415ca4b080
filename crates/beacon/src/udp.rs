//! The only socket code of the beacon layer: sending encoded beacons to a topology's receivers
//! and receiving datagrams, over plain `std::net::UdpSocket` (blocking, no runtime: the agent and
//! the controller each give it a thread).

use crate::send::Topology;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Largest datagram the receiver reads; anything longer is truncated and then refused by the
/// decoder as the wrong length.
pub const MAX_DATAGRAM: usize = 512;

/// Why a socket operation failed, with the address involved.
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    /// The topology names no receiver.
    #[error(transparent)]
    Topology(#[from] crate::send::SendError),
    /// Binding failed (address in use, not local, no permission).
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Setting a socket option failed.
    #[error("UDP socket option on {addr}: {source}")]
    Option {
        /// The socket's address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Receiving failed for a reason other than the read timeout.
    #[error("receiving on UDP {addr}: {source}")]
    Receive {
        /// The socket's address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// Sends beacons to every receiver of a topology from one socket.
#[derive(Debug)]
pub struct Sender {
    socket: UdpSocket,
    receivers: Vec<SocketAddr>,
}

impl Sender {
    /// A sender bound to an ephemeral port of the right address family.
    pub fn new(topology: &Topology<SocketAddr>) -> Result<Sender, UdpError> {
        let receivers = topology.receivers()?.to_vec();
        let any: SocketAddr = if receivers.iter().all(SocketAddr::is_ipv6) {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let socket = UdpSocket::bind(any).map_err(|source| UdpError::Bind { addr: any, source })?;
        Ok(Sender { socket, receivers })
    }

    /// Sends `bytes` to every receiver; returns how many sends failed (a receiver that is not up
    /// yet refuses the datagram, as a network loses it: not an error of the sender).
    pub fn send(&self, bytes: &[u8]) -> usize {
        self.receivers.iter().filter(|addr| self.socket.send_to(bytes, addr).is_err()).count()
    }

    /// The receivers.
    pub fn receivers(&self) -> &[SocketAddr] {
        &self.receivers
    }

    /// Waits up to `timeout` for a datagram from one of the receivers (a controller answering)
    /// and copies it into `buf`; datagrams from any other address are dropped unread. `None`
    /// when the time passed without one. A `timeout` of zero is taken as one millisecond.
    pub fn recv_reply<'b>(
        &self,
        buf: &'b mut [u8],
        timeout: Duration,
    ) -> Result<Option<(&'b [u8], SocketAddr)>, UdpError> {
        let addr = self.socket.local_addr().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|source| UdpError::Option { addr, source })?;
        match self.socket.recv_from(buf) {
            Ok((n, from)) if self.receivers.contains(&from) => Ok(Some((&buf[..n], from))),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(None)
            }
            // ICMP "port unreachable" from a receiver that is not up yet surfaces here on Linux:
            // the network losing a datagram, not a failure of this socket.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(None),
            Err(source) => Err(UdpError::Receive { addr, source }),
        }
    }
}

/// A receiving socket with a read timeout, so its thread can run timers between datagrams.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    addr: SocketAddr,
    buf: Box<[u8; MAX_DATAGRAM]>,
}

impl Listener {
    /// Binds `addr`; `recv` returns `None` after `timeout` without a datagram.
    pub fn bind(addr: SocketAddr, timeout: Duration) -> Result<Listener, UdpError> {
        let socket = UdpSocket::bind(addr).map_err(|source| UdpError::Bind { addr, source })?;
        let addr = socket.local_addr().unwrap_or(addr);
        socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|source| UdpError::Option { addr, source })?;
        Ok(Listener { socket, addr, buf: Box::new([0; MAX_DATAGRAM]) })
    }

    /// The bound address (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `bytes` to `to` from this socket (so the peer sees the address it sends to as the
    /// source: how the controller answers agents).
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(bytes, to)
    }

    /// The next datagram and its source, or `None` when the timeout passed first.
    pub fn recv(&mut self) -> Result<Option<(&[u8], SocketAddr)>, UdpError> {
        match self.socket.recv_from(&mut self.buf[..]) {
            Ok((n, from)) => Ok(Some((&self.buf[..n], from))),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(None)
            }
            Err(source) => Err(UdpError::Receive { addr: self.addr, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_every_receiver_and_silence_times_out() {
        let timeout = Duration::from_millis(200);
        let mut a = Listener::bind("127.0.0.1:0".parse().unwrap(), timeout).unwrap();
        let mut b = Listener::bind("127.0.0.1:0".parse().unwrap(), timeout).unwrap();
        let sender = Sender::new(&Topology::Many(vec![a.local_addr(), b.local_addr()])).unwrap();
        assert_eq!(sender.send(b"beacon"), 0);
        for listener in [&mut a, &mut b] {
            let (bytes, _) = listener.recv().unwrap().expect("a datagram");
            assert_eq!(bytes, b"beacon");
            assert!(listener.recv().unwrap().is_none(), "then silence");
        }
    }

    #[test]
    fn replies_come_only_from_receivers() {
        let timeout = Duration::from_millis(200);
        let receiver = Listener::bind("127.0.0.1:0".parse().unwrap(), timeout).unwrap();
        let stranger = Listener::bind("127.0.0.1:0".parse().unwrap(), timeout).unwrap();
        let sender = Sender::new(&Topology::One(receiver.local_addr())).unwrap();
        let me = SocketAddr::from(([127, 0, 0, 1], sender.socket.local_addr().unwrap().port()));
        stranger.send_to(b"forged", me).unwrap();
        receiver.send_to(b"alpha", me).unwrap();
        let mut buf = [0u8; 64];
        // The stranger's datagram arrived first and is dropped.
        assert!(sender.recv_reply(&mut buf, timeout).unwrap().is_none());
        let (bytes, from) = sender.recv_reply(&mut buf, timeout).unwrap().expect("the reply");
        assert_eq!((bytes, from), (&b"alpha"[..], receiver.local_addr()));
    }

    #[test]
    fn binding_a_foreign_address_names_it() {
        let err = Listener::bind("192.0.2.1:7000".parse().unwrap(), Duration::from_millis(1))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot bind UDP 192.0.2.1:7000"), "{err}");
    }
}

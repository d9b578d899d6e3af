// Helpers of the Socket.IO suites (socket.io-client 4.8): the service's path and promise forms of
// one-off events.
export const SOCKETIO_PATH = '/api/ai/socket.io';

export function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve));
}

// Resolves on connect (at once when it is connected already), rejects with the connect_error.
export function connected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
}

// Resolves with the connect_error; a connection is a failure.
export function refused(socket) {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, but should have been refused')));
    socket.once('connect_error', resolve);
  });
}

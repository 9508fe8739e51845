import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { listen } from '../../runtime/oip/http.js';

describe('listen', () => {
  it('names the address when the port is taken, and leaves the first server serving', async () => {
    const first: Server = createServer((_req, res) => res.end('first'));
    await listen(first, 0, '127.0.0.1');
    const port = (first.address() as AddressInfo).port;
    const second = createServer();
    try {
      await expect(listen(second, port, '127.0.0.1')).rejects.toThrow(`127.0.0.1:${port} is already in use`);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('first');
    } finally {
      first.close();
      second.close();
    }
  });
});

import express from 'express';

// The baseline: a bare Express 5 app that echoes an XML body. It shows what the framework and loopback
// cost on this machine, so each Keyplane scenario can be read as a ratio to it.

const port = Number(process.env.PORT ?? 0);
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/echo', express.text({ type: () => true, limit: '1mb' }), (req, res) => {
  res.type('application/xml').send(typeof req.body === 'string' ? req.body : '');
});
const server = app.listen(port, '127.0.0.1', () => process.stdout.write('baseline listening\n'));
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});

/**
 * Entry of the scheduler's web dashboard (bundled by esbuild into
 * python/futurelab/dashboard/static/, served by futurelab.dashboard.server).
 * The page's state lives in the lab sidebar's ClientModel, fed over a
 * WebSocket instead of a kernel comm; its views are the sidebar's.
 */
import * as React from 'react';
import { createRoot } from 'react-dom/client';

import { ClientModel } from '../model';
import { Dashboard } from './app';
import { DashboardLink, socketUrl } from './connection';
import './dashboard.css';

function main(): void {
  const host = document.getElementById('futurelab-dashboard');
  if (!host) {
    return;
  }
  const url = socketUrl(window.location.href);
  // the token was turned into a cookie by the server: keep it out of the address bar
  if (new URL(window.location.href).searchParams.has('token')) {
    const clean = new URL(window.location.href);
    clean.searchParams.delete('token');
    window.history.replaceState(null, '', clean.toString());
  }
  const model = new ClientModel();
  model.setSource('scheduler', 'connecting');
  const link = new DashboardLink(model, url);
  // tests and curious users: window.futurelabDashboard.model.snapshot
  (window as unknown as { futurelabDashboard: unknown }).futurelabDashboard = { model, link };
  createRoot(host).render(<Dashboard model={model} link={link} />);
  link.connect();
}

main();
